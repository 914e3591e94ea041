//! The e500 board's guest physical map: RAM and the CCSR window.
