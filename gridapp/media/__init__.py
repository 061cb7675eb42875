"""Media: photos kept as evidence, their storage, EXIF, thumbnails and the nightly sweep."""
