"""app/telephony"""
