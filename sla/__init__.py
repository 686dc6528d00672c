"""Service levels: business-hours calendars, policies, the timers on tickets and the scan that
warns before and marks each breach."""
