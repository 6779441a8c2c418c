"""gradeng: classification losses specified by their scale coefficient g(p) = dL/dp."""
