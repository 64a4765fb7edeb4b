"""Chip emulation: profiles, mapping of neurons onto cores, and energy and latency models."""

from ..report import HardwareResult
from .chip import ChipSimulator, profile_schedule, quantize_weights, state_bounds
from .mapping import CoreMapping, map_network
from .profile import Figure, HardwareProfile, load_profile, parse_profile, shipped_profiles

__all__ = ["ChipSimulator", "CoreMapping", "Figure", "HardwareProfile", "HardwareResult",
           "load_profile", "map_network", "parse_profile", "profile_schedule",
           "quantize_weights", "shipped_profiles", "state_bounds"]
