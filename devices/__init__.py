"""One driver per kind of hardware or protocol: count sources, stack lights, andon buttons."""
