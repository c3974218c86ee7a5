"""The server's public paths: Twilio is pointed at them, and the TwiML names them."""

INCOMING_PATH = "/incoming-call"
STREAM_PATH = "/media-stream"
CALL_ENDED_PATH = "/call-ended"
STREAM_STATUS_PATH = "/stream-status"
CALL_STATUS_PATH = "/call-status"
