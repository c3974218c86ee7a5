"""app/agent"""
