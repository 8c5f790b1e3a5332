"""`python -m apps.node`: the DICOM node's entry; the node itself is the pacs package."""
