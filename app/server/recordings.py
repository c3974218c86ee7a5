"""``GET /calls/{call_sid}/recording``: a call's recording, from whichever process.

In a fleet, recordings live on a volume every process mounts at ``RECORDINGS_DIR`` (a
shared disk on one host; NFS, EFS or the like across hosts): any process serves any
call's recording, including one whose process has since died or been replaced
(docs/scaling.md says why this, not fetching from the process that made it). The
operator's bearer token is required (401, and wrong tokens are throttled); the CallSid
must be one (400), so no path is ever built from anything else. A call still in
progress answers 409: its WAV is complete only once the call has ended.
"""

from __future__ import annotations

from pathlib import Path

from starlette.requests import Request
from starlette.responses import FileResponse, Response
from starlette.routing import Route

from app.server.inputs import call_sid_param, error_response, known_query, query_int, services_of
from app.server.operator import operator_only
from app.sinks.recording import MAX_LEGS, latest_recording, recording_path


async def get_recording(request: Request) -> Response:
    services = services_of(request)
    call_sid = call_sid_param(request)
    known_query(request, "leg")
    leg = query_int(request, "leg", default=0, low=1, high=MAX_LEGS)
    directory = services.settings.recordings_dir
    if not directory:
        return error_response("recordings are off (RECORDINGS_DIR)", 404)
    if await services.registry.locate(call_sid) is not None:
        return error_response(
            f"call {call_sid} is in progress: its recording is complete once it has ended", 409
        )
    root = Path(directory)
    path = latest_recording(root, call_sid) if leg == 0 else recording_path(root, call_sid, leg)
    if path is None or not path.is_file():
        which = "" if leg == 0 else f" (leg {leg})"
        return error_response(f"no recording of call {call_sid}{which}", 404)
    return FileResponse(path, media_type="audio/wav", filename=path.name)


ROUTES = [Route("/calls/{call_sid}/recording", operator_only(get_recording), methods=["GET"])]
