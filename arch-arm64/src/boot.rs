//! Kernel loading (raw images, later the arm64 Image) and entry state (x0 = DTB).
