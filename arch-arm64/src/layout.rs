//! Guest physical map: RAM at 1 GiB and above, GIC, UART.
