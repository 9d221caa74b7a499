// Header-only: see include/CGuestAtomics.h. (SwiftPM wants a source file in a C target.)
