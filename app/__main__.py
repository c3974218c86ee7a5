"""``python -m app``: serve (draining calls on SIGTERM), or an operator command.

python -m app                          serve on HOST:PORT
python -m app check                    validate the settings and show what would be used
python -m app call +15551234567        have the bot call someone
python -m app configure-number +1555…  point a Twilio number's webhooks at PUBLIC_URL
"""

from __future__ import annotations

from app.ops.cli import main

if __name__ == "__main__":
    main()
