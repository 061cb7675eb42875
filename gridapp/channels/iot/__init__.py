"""Sensors (物联感知): signed alarms from devices on registered components open or add to cases."""
