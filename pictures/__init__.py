"""Pictures for people: windowing, heat maps, boxes, contours, captions, PNG."""
