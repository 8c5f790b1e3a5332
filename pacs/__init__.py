"""The DICOM node (C-STORE in, the suite in-process, results out, DICOMweb pull) and a local Orthanc."""
