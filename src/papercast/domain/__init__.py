"""Pure data and rules of papercast; imports nothing of ours outside `domain`."""
