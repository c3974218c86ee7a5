"""app/agent/gemini"""
