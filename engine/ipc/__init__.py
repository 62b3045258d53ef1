"""Messages between the controller and SIP worker processes, and their wire codec (pure)."""
