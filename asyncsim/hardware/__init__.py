"""Chip emulation: profiles, mapping of neurons onto cores, and energy and latency models."""

from .chip import ChipSimulator, profile_settings, quantize_weights, state_bounds
from .mapping import CoreMapping, map_network
from .profile import Figure, HardwareProfile, load_profile, parse_profile, shipped_profiles

__all__ = ["ChipSimulator", "CoreMapping", "Figure", "HardwareProfile", "load_profile",
           "map_network", "parse_profile", "profile_settings", "quantize_weights",
           "shipped_profiles", "state_bounds"]
