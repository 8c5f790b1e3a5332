"""What we write: app-neutral findings, coded concepts, SR/SEG/SC builders, a study's objects, result.json."""
