"""Where studies live: a local Orthanc for demos and tests (and the DICOM node's networking)."""
