"""setpoint's version: the installed distribution's (a test keeps the two equal), readable
from any layer without importing the package's SDK surface."""

VERSION = "0.1.0.dev0"
