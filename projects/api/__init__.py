"""The JSON API of this layer, one router per concern (portal/api.py assembles them)."""
