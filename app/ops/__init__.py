"""app/ops"""
