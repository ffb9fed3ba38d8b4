"""Flavors: per-framework save/load. Built-ins register through the same pluggy hook as plugins."""

from shipyard.package.flavors.base import Flavor, Predictor, SavedModel
from shipyard.package.flavors.hooks import flavor_for, flavor_named, installed_flavors

__all__ = ["Flavor", "Predictor", "SavedModel", "flavor_for", "flavor_named", "installed_flavors"]
