"""app/audio"""
