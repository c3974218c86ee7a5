"""Twilio Media Streams ⇄ Gemini Live voice bot server."""
