"""An onsale rehearsal: flood a stage with fans, measure it, audit it."""
