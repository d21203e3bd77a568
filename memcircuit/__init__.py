"""memcircuit: SPICE-level co-simulation of memristive deep-learning hardware."""

__version__ = "0.1.0"
