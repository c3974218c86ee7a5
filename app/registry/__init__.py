"""What the processes of one deployment share about calls and clients (see base.py)."""
