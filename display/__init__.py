"""The line display: a pygame fullscreen board (and plant overview) that is a client of the API."""
