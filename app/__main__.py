"""``python -m app``: serve (draining calls on SIGTERM), or an operator command.

python -m app                          serve on HOST:PORT
python -m app check [--online]         validate the settings and show what would be used
python -m app call +15551234567        have the bot call someone
python -m app configure-number +1555…  point a Twilio number's webhooks at PUBLIC_URL
python -m app calls [CA…]              show call records
python -m app replay capture.json …    play a captured call to the bot
python -m app make-capture voice.wav … turn a recording into a capture
python -m app gemini-standin           run a local Gemini Live stand-in

Any command takes --env-file PATH (default: .env in the current directory); see
docs/commands.md.
"""

from __future__ import annotations

from app.ops.cli import main

if __name__ == "__main__":
    main()
