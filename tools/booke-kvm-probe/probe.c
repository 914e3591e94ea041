/* booke-kvm-probe: drives tetra's BookE ioctl sequence (arch-booke `impl Arch for BookE`) on a
 * 32-bit e500v2 KVM host, for scripts/booke-kvm-probe. Static, for powerpc-linux-gnu.
 *
 *   KVM_CREATE_VM(0), KVM_SET_USER_MEMORY_REGION (1 MiB at GPA 0), KVM_CREATE_VCPU(0),
 *   KVM_ENABLE_CAP(KVM_CAP_SW_TLB) with a kvm_config_tlb (mmu_type KVM_MMU_FSL_BOOKE_NOHV:
 *   e500v2 has no E.HV; tetra's cores all use _HV), the boot entry written into TLB1[0] of the
 *   shared array, KVM_DIRTY_TLB with the dirty bitmap, KVM_GET/SET_SREGS, KVM_GET_ONE_REG of
 *   the TLB geometry registers, KVM_SET_REGS (pc 0, msr 0), KVM_RUN.
 * The guest (mode "mmio", the default): lis r3,0x10; li r4,42; stw r4,0(r3); b .  -> a
 * KVM_EXIT_MMIO write of 42 at GPA 0x100000 (TLB1[1] maps EA 0x100000 to it; no memslot there).
 * Mode "sc": lis r3,0x10; li r4,42; sc, with the guest's IVPR 0 and IVOR8 0x100, where
 * li r4,43; stw r4,0(r3) -> an MMIO write of 43 proves KVM delivered the system call to the guest.
 * Prints "BOOKE-KVM-PROBE PASS" on the MMIO exit, "BOOKE-KVM-PROBE FAIL <why>" otherwise.
 *
 * Modes "hello", "poweroff" and "tlb" (the booke lane, `scripts/emu-test booke`) load the flat
 * guest image /guests/<mode>.bin (tools/booke-kvm-probe/guests/, 32-bit e500v2 assembly) at GPA 0
 * and serve arch-booke's e500 board (arch-booke/src/layout.rs) in the KVM_RUN loop, as tetra's
 * board would: the CCSR at 0xf_e000_0000, the DUART's first 16550 at CCSR + 0x4500 (THR writes
 * go to the console, LSR reads say "empty"), tetra's debug exit at CCSR + 0xf_f000 (a big-endian
 * store of V ends the VM with status (V << 1) | 1). Power-off: arch-booke's GPIO block
 * (arch-booke/src/devices/gpio.rs), the one QEMU's ppce500 board and Linux's qemu-e500 platform
 * use, `gpio-poweroff` on pin 0 of the MPC8xxx GPIO block (GPDIR and GPDAT bit 0x80000000 set:
 * power off, status 0), at the PQ3 SoCs' address CCSR + 0xfc00 (pq3-gpio-0.dtsi) because
 * QEMU's 0xf_f000 is where tetra put its debug exit. "tlb" also uses a
 * driver-only report port at CCSR + 0xf_f100. Each prints "BOOKE-CONTRACT <mode> PASS|FAIL ...".
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <stdint.h>
#include <fcntl.h>
#include <unistd.h>
#include <errno.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <signal.h>
#include <dirent.h>
#include <linux/kvm.h>

#define FAIL(...) do { printf("BOOKE-KVM-PROBE FAIL " __VA_ARGS__); printf("\n"); fflush(stdout); exit(1); } while (0)
#define CHK(x) do { if ((x) < 0) FAIL("%s: %s", #x, strerror(errno)); } while (0)

#define TLB0_SIZE 512 /* e500v2: TLB0 512 entries, 4-way; TLB1 16 entries, fully associative */
#define TLB0_WAYS 4
#define TLB1_SIZE 16
#define NENT (TLB0_SIZE + TLB1_SIZE)

#define MAS1_VALID 0x80000000u
#define MAS1_IPROT 0x40000000u
#define MAS1_TSIZE(k) ((uint32_t)(k) << 7) /* page = 2^k KiB (KVM's get_tlb_bytes) */
#define MAS2_I 0x8u
#define MAS2_G 0x2u
#define MAS3_SX 0x10u
#define MAS3_SW 0x4u
#define MAS3_SR 0x1u

static void dump_one_reg(int vcpu, const char *name, uint64_t id) {
    uint64_t v = 0;
    struct kvm_one_reg r = { .id = id, .addr = (uint64_t)(uintptr_t)&v };
    if (ioctl(vcpu, KVM_GET_ONE_REG, &r) < 0) { printf("  %s: %s\n", name, strerror(errno)); return; }
    /* KVM_REG_SIZE_U32 values land in the first 4 bytes (big-endian) */
    if ((id & KVM_REG_SIZE_MASK) == KVM_REG_SIZE_U32) { uint32_t w; memcpy(&w, &v, 4); printf("  %s = %#x\n", name, w); }
    else printf("  %s = %#llx\n", name, (unsigned long long)v);
}

static void on_alarm(int sig) { (void)sig; }

/* KVM's debugfs counters (exits by kind), all files directly under /sys/kernel/debug/kvm. */
static void dump_kvm_stats(void) {
    DIR *d = opendir("/sys/kernel/debug/kvm");
    struct dirent *e;
    if (!d) { printf("no /sys/kernel/debug/kvm\n"); return; }
    printf("kvm stats:");
    while ((e = readdir(d))) {
        char path[300], buf[64];
        snprintf(path, sizeof path, "/sys/kernel/debug/kvm/%s", e->d_name);
        FILE *f = fopen(path, "r");
        if (!f) continue;
        if (fgets(buf, sizeof buf, f) && strcmp(buf, "0\n")) { buf[strcspn(buf, "\n")] = 0; printf(" %s=%s", e->d_name, buf); }
        fclose(f);
    }
    printf("\n");
    closedir(d);
}

/* arch-booke's e500 board (arch-booke/src/layout.rs) and the driver's additions. */
#define CCSR 0xfe0000000ull
#define UART0 (CCSR + 0x4500)          /* SERIAL0_OFFSET; 8 byte registers */
#define GPIO (CCSR + 0xfc00)           /* GPIO_OFFSET: PQ3 GPIO, gpio-poweroff on pin 0 */
#define GPIO_GPDIR 0x0
#define GPIO_GPDAT 0x8
#define DEBUG_EXIT (CCSR + 0xff000)    /* DEBUG_EXIT_OFFSET, 4 bytes */
#define REPORT (CCSR + 0xff100)        /* probe.c only (mode tlb) */
#define GPIO_PIN0 0x80000000u

/* How a guest of an image mode ended. */
enum ending { RUNNING, DEBUG_EXITED, POWERED_OFF };

static char console[4096];
static size_t console_len;

static uint32_t be32(const uint8_t *d, unsigned len) {
    uint32_t v = 0;
    for (unsigned i = 0; i < len; i++) v = v << 8 | d[i];
    return v;
}

static int has_line(const char *line) {
    size_t n = strlen(line);
    for (const char *p = console; (p = strstr(p, line)); p++)
        if ((p == console || p[-1] == '\n') && (p[n] == '\n' || p[n] == 0)) return 1;
    return 0;
}

static void show_entry(const char *name, const struct kvm_book3e_206_tlb_entry *e) {
    printf("  %s: mas8=%#x mas1=%#x mas2=%#llx mas7_3=%#llx\n", name, e->mas8, e->mas1,
        (unsigned long long)e->mas2, (unsigned long long)e->mas7_3);
}

static int same_entry(const struct kvm_book3e_206_tlb_entry *e, uint32_t mas1, uint64_t mas2, uint64_t mas7_3) {
    return e->mas8 == 0 && e->mas1 == mas1 && e->mas2 == mas2 && e->mas7_3 == mas7_3;
}

int main(int argc, char **argv) {
    setvbuf(stdout, NULL, _IONBF, 0);
    const char *mode = argc > 1 ? argv[1] : "mmio";
    int sc_mode = !strcmp(mode, "sc");
    int image_mode = !strcmp(mode, "hello") || !strcmp(mode, "poweroff") || !strcmp(mode, "tlb");
    int tlb_mode = !strcmp(mode, "tlb");
    if (!image_mode && !sc_mode && strcmp(mode, "mmio")) FAIL("unknown mode %s", mode);
    int kvm = open("/dev/kvm", O_RDWR);
    if (kvm < 0) FAIL("open /dev/kvm: %s", strerror(errno));
    printf("KVM_GET_API_VERSION=%d\n", ioctl(kvm, KVM_GET_API_VERSION, 0));
    printf("caps: SW_TLB=%d PPC_BOOKE_SREGS=%d ONE_REG=%d PPC_EPR=%d IRQ_MPIC=%d PPC_BOOKE_WATCHDOG=%d\n",
        ioctl(kvm, KVM_CHECK_EXTENSION, KVM_CAP_SW_TLB), ioctl(kvm, KVM_CHECK_EXTENSION, KVM_CAP_PPC_BOOKE_SREGS),
        ioctl(kvm, KVM_CHECK_EXTENSION, KVM_CAP_ONE_REG), ioctl(kvm, KVM_CHECK_EXTENSION, KVM_CAP_PPC_EPR),
        ioctl(kvm, KVM_CHECK_EXTENSION, KVM_CAP_IRQ_MPIC), ioctl(kvm, KVM_CHECK_EXTENSION, KVM_CAP_PPC_BOOKE_WATCHDOG));
    int vm = ioctl(kvm, KVM_CREATE_VM, 0); CHK(vm);

    /* RAM as the shared contracts configure it (contract.rs: hello 64 MiB; power.rs: 16 MiB). */
    size_t memsz = !strcmp(mode, "hello") ? 64 << 20 : !strcmp(mode, "poweroff") ? 16 << 20 : 1 << 20;
    uint32_t *mem = mmap(NULL, memsz, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (mem == MAP_FAILED) FAIL("mmap: %s", strerror(errno));
    uint8_t want = sc_mode ? 43 : 42;
    if (image_mode) {
        char path[64];
        snprintf(path, sizeof path, "/guests/%s.bin", mode);
        int fd = open(path, O_RDONLY);
        if (fd < 0) FAIL("open %s: %s", path, strerror(errno));
        ssize_t n = read(fd, mem, memsz);
        if (n <= 0) FAIL("read %s: %s", path, n < 0 ? strerror(errno) : "empty");
        close(fd);
        printf("mode %s: %zd-byte guest image %s at GPA 0\n", mode, n, path);
    } else {
        uint32_t code[] = { 0x3C600010 /* lis r3,0x10 */, 0x3880002A /* li r4,42 */,
                            0x90830000 /* stw r4,0(r3) */, 0x48000000 /* b . */ };
        if (sc_mode) code[2] = 0x44000002; /* sc */
        uint32_t vec[] = { 0x3880002B /* li r4,43 */, 0x90830000 /* stw r4,0(r3) */, 0x48000000 /* b . */ };
        memcpy(mem, code, sizeof code); /* host and guest are both big-endian */
        memcpy((char *)mem + 0x100, vec, sizeof vec);
        printf("mode %s: expecting an MMIO write of %u at 0x100000\n", mode, want);
    }
    struct kvm_userspace_memory_region mr = { .slot = 0, .guest_phys_addr = 0, .memory_size = memsz,
                                              .userspace_addr = (uint64_t)(uintptr_t)mem };
    CHK(ioctl(vm, KVM_SET_USER_MEMORY_REGION, &mr));
    int vcpu = ioctl(vm, KVM_CREATE_VCPU, 0); CHK(vcpu);
    int runsz = ioctl(kvm, KVM_GET_VCPU_MMAP_SIZE, 0); CHK(runsz);
    struct kvm_run *run = mmap(NULL, runsz, PROT_READ | PROT_WRITE, MAP_SHARED, vcpu, 0);
    if (run == MAP_FAILED) FAIL("mmap kvm_run: %s", strerror(errno));

    /* KVM_CAP_SW_TLB, as arch-booke's kvm/vcpu.rs create(): params + array owned by us */
    static struct kvm_book3e_206_tlb_params params;
    static struct kvm_book3e_206_tlb_entry tlb[NENT] __attribute__((aligned(4096)));
    params.tlb_sizes[0] = TLB0_SIZE; params.tlb_ways[0] = TLB0_WAYS;
    params.tlb_sizes[1] = TLB1_SIZE; params.tlb_ways[1] = TLB1_SIZE;
    struct kvm_config_tlb cfg = { .params = (uint64_t)(uintptr_t)&params, .array = (uint64_t)(uintptr_t)tlb,
                                  .mmu_type = KVM_MMU_FSL_BOOKE_NOHV, .array_len = sizeof tlb };
    struct kvm_enable_cap cap = { .cap = KVM_CAP_SW_TLB, .args = { (uint64_t)(uintptr_t)&cfg } };
    CHK(ioctl(vcpu, KVM_ENABLE_CAP, &cap));
    printf("KVM_ENABLE_CAP(SW_TLB) ok: NOHV, TLB0 %d/%d-way, TLB1 %d\n", TLB0_SIZE, TLB0_WAYS, TLB1_SIZE);
    /* power.rs runs `poweroff` with two vCPUs (the second never runs). Not here: this host
     * kernel is uniprocessor (mpc85xx_defconfig, NR_CPUS=1) and refuses KVM_CREATE_VCPU(1) with
     * EINVAL; arch-booke refuses --cpus above 1 anyway. */

    /* TLB1[0]: EA 0 -> GPA 0, 1 MiB, RAM. TLB1[1]: EA 0x100000 -> GPA 0x100000, 4 KiB, I|G. */
    struct kvm_book3e_206_tlb_entry *t1 = &tlb[TLB0_SIZE];
    t1[0].mas1 = MAS1_VALID | MAS1_IPROT | MAS1_TSIZE(10);
    t1[0].mas2 = 0;
    t1[0].mas7_3 = 0 | MAS3_SX | MAS3_SW | MAS3_SR;
    t1[1].mas1 = MAS1_VALID | MAS1_IPROT | MAS1_TSIZE(2);
    t1[1].mas2 = 0x100000 | MAS2_I | MAS2_G;
    t1[1].mas7_3 = 0x100000 | MAS3_SW | MAS3_SR;
    static uint64_t bitmap[(NENT + 63) / 64];
    bitmap[TLB0_SIZE / 64] |= 3ull << (TLB0_SIZE % 64);
    struct kvm_dirty_tlb dirty = { .bitmap = (uint64_t)(uintptr_t)bitmap, .num_dirty = 2 };
    CHK(ioctl(vcpu, KVM_DIRTY_TLB, &dirty));
    printf("KVM_DIRTY_TLB ok\n");

    struct kvm_sregs sregs;
    CHK(ioctl(vcpu, KVM_GET_SREGS, &sregs));
    printf("sregs: pvr=%#x features=%#x impl_id=%d mmucfg=%#x tlbcfg0=%#x tlbcfg1=%#x\n", sregs.pvr,
        sregs.u.e.features, sregs.u.e.impl_id, sregs.u.e.mmucfg, sregs.u.e.tlbcfg[0], sregs.u.e.tlbcfg[1]);
    if (sc_mode || tlb_mode) {
        if (!(sregs.u.e.features & KVM_SREGS_E_IVOR)) FAIL("sregs without KVM_SREGS_E_IVOR");
        sregs.u.e.ivpr = 0;
        if (sc_mode) sregs.u.e.ivor_low[8] = 0x100; /* system call */
        else for (int i = 0; i < 16; i++) sregs.u.e.ivor_low[i] = 0x700; /* tlb.S's catch-all */
    }
    CHK(ioctl(vcpu, KVM_SET_SREGS, &sregs));
    printf("ONE_REG:\n");
    dump_one_reg(vcpu, "MMUCFG", KVM_REG_PPC_MMUCFG);
    dump_one_reg(vcpu, "TLB0CFG", KVM_REG_PPC_TLB0CFG);
    dump_one_reg(vcpu, "TLB1CFG", KVM_REG_PPC_TLB1CFG);
    dump_one_reg(vcpu, "EPCR", KVM_REG_PPC_EPCR);

    struct kvm_regs regs; CHK(ioctl(vcpu, KVM_GET_REGS, &regs));
    regs.pc = 0; regs.msr = 0; /* supervisor, AS 0 */
    CHK(ioctl(vcpu, KVM_SET_REGS, &regs));

    /* A KVM_RUN that never returns is interrupted after 20 s (EINTR) to show where the guest is. */
    struct sigaction sa = { .sa_handler = on_alarm };
    sigaction(SIGALRM, &sa, NULL);
    enum ending ending = RUNNING;
    uint32_t exit_value = 0, gpdir = 0, gpdat = 0;
    int reports = 0, array_ok = 0, dirty_ok = 0, mmio_exits = 0;
    for (int i = 0; ending == RUNNING && i < 100000; i++) {
        if (i == 0 || !image_mode || tlb_mode) printf("KVM_RUN #%d ...\n", i);
        alarm(20);
        int rc = ioctl(vcpu, KVM_RUN, 0);
        alarm(0);
        if (rc < 0 && errno == EINTR) {
            CHK(ioctl(vcpu, KVM_GET_REGS, &regs));
            printf("KVM_RUN still in the guest after 20 s: pc=%#llx msr=%#llx r3=%#llx r4=%#llx\n",
                (unsigned long long)regs.pc, (unsigned long long)regs.msr,
                (unsigned long long)regs.gpr[3], (unsigned long long)regs.gpr[4]);
            dump_kvm_stats();
            sleep(2);
            dump_kvm_stats();
            FAIL("KVM_RUN did not exit within 20 s");
        }
        if (rc < 0) FAIL("KVM_RUN: %s", strerror(errno));
        if (run->exit_reason == KVM_EXIT_INTR) continue;
        if (run->exit_reason != KVM_EXIT_MMIO) {
            CHK(ioctl(vcpu, KVM_GET_REGS, &regs));
            printf("exit_reason=%u pc=%#llx msr=%#llx hw_exit_reason=%#llx\n", run->exit_reason,
                (unsigned long long)regs.pc, (unsigned long long)regs.msr,
                (unsigned long long)run->hw.hardware_exit_reason);
            FAIL("exit_reason %u", run->exit_reason);
        }
        mmio_exits++;
        uint64_t a = run->mmio.phys_addr;
        unsigned len = run->mmio.len;
        if (!image_mode) {
            printf("exit_reason=%u\n", run->exit_reason);
            printf("KVM_EXIT_MMIO %s addr=%#llx len=%u data=%02x %02x %02x %02x\n", run->mmio.is_write ? "write" : "read",
                (unsigned long long)a, len, run->mmio.data[0], run->mmio.data[1], run->mmio.data[2], run->mmio.data[3]);
            if (run->mmio.is_write && a == 0x100000 && run->mmio.data[3] == want) {
                /* the TLB array tetra holds vs what KVM sees after the run */
                printf("TLB1[0] after run: mas1=%#x mas2=%#llx mas7_3=%#llx\n", t1[0].mas1,
                    (unsigned long long)t1[0].mas2, (unsigned long long)t1[0].mas7_3);
                printf("BOOKE-KVM-PROBE PASS\n");
                return 0;
            }
            FAIL("unexpected MMIO exit");
        }
        if (!run->mmio.is_write) {
            /* Reads: the 16550's LSR says "transmitter empty"; everything else reads 0. */
            memset(run->mmio.data, 0, sizeof run->mmio.data);
            if (a == UART0 + 5 && len == 1) run->mmio.data[0] = 0x60;
            else if (!(a >= UART0 && a < UART0 + 8) && !(a >= GPIO && a < GPIO + 0x100))
                printf("MMIO read of %u bytes at %#llx: no device, 0\n", len, (unsigned long long)a);
            continue;
        }
        uint32_t v = be32(run->mmio.data, len);
        if (a == UART0 && len == 1) {
            if (console_len + 1 < sizeof console) console[console_len++] = (char)v;
            if (v == '\n') { /* the guest's console, line by line */
                size_t start = console_len - 1;
                while (start > 0 && console[start - 1] != '\n') start--;
                printf("guest console| %.*s\n", (int)(console_len - 1 - start), console + start);
            }
        } else if (a > UART0 && a < UART0 + 8) {
            /* IER, FCR, LCR, MCR, SCR: accepted, ignored */
        } else if (a == DEBUG_EXIT && len == 4) {
            ending = DEBUG_EXITED;
            exit_value = v;
        } else if (a == GPIO + GPIO_GPDIR && len == 4) {
            gpdir = v;
        } else if (a == GPIO + GPIO_GPDAT && len == 4) {
            uint32_t rising = v & ~gpdat & gpdir;
            gpdat = v;
            if (rising & GPIO_PIN0) ending = POWERED_OFF;
        } else if (tlb_mode && a == REPORT && len == 4) {
            reports++;
            printf("report %d: %#x\n", reports, v);
            if (reports == 1) {
                /* What the guest wrote with tlbwe, in the array KVM shares with us. */
                const struct kvm_book3e_206_tlb_entry *ccsr = &t1[2], *t0 = &tlb[5 * TLB0_WAYS + 1];
                printf("shared array after the guest's tlbwe:\n");
                show_entry("TLB1[2]", ccsr);
                show_entry("TLB0[set 5, way 1] (array index 21)", t0);
                int ok1 = same_entry(ccsr, 0xc0000500, 0xe000000a, 0xfe0000005ull);
                int ok0 = same_entry(t0, 0x80000100, 0x00105000, 0x00005005);
                int others = 0;
                for (int k = 0; k < TLB0_SIZE; k++)
                    if (k != 5 * TLB0_WAYS + 1 && (tlb[k].mas1 & MAS1_VALID)) others++;
                printf("TLB-CHECK guest->array: TLB1[2] %s, TLB0[21] %s, other valid TLB0 entries %d, guest read %#x through TLB0[21] (want 0x5eed0001)\n",
                    ok1 ? "as written" : "DIFFERS", ok0 ? "as written" : "DIFFERS", others, v);
                array_ok = ok1 && ok0 && others == 0 && v == 0x5eed0001;
                /* The other direction: the host retargets TLB0[21] (EA 0x105000 -> 0x6000; KVM
                 * has shadowed it for the guest's load) and adds TLB1[3] (EA 0x3000_0000 ->
                 * 0x7000, 4 KiB), then flags both with KVM_DIRTY_TLB (BOOKE_NO_DIRTY=1 skips the
                 * call, to see what it is for). */
                tlb[5 * TLB0_WAYS + 1].mas7_3 = 0x6000 | MAS3_SW | MAS3_SR;
                t1[3].mas8 = 0;
                t1[3].mas1 = MAS1_VALID | MAS1_TSIZE(2);
                t1[3].mas2 = 0x30000000;
                t1[3].mas7_3 = 0x7000 | MAS3_SW | MAS3_SR;
                memset(bitmap, 0, sizeof bitmap);
                bitmap[(5 * TLB0_WAYS + 1) / 64] |= 1ull << ((5 * TLB0_WAYS + 1) % 64);
                bitmap[(TLB0_SIZE + 3) / 64] |= 1ull << ((TLB0_SIZE + 3) % 64);
                dirty.num_dirty = 2;
                const char *nd = getenv("BOOKE_NO_DIRTY");
                if (nd && *nd == '1') printf("host changed TLB0[21] (-> 0x6000) and wrote TLB1[3] (EA 0x30000000 -> 0x7000), NO KVM_DIRTY_TLB\n");
                else {
                    CHK(ioctl(vcpu, KVM_DIRTY_TLB, &dirty));
                    printf("host changed TLB0[21] (-> 0x6000) and wrote TLB1[3] (EA 0x30000000 -> 0x7000), then KVM_DIRTY_TLB\n");
                }
            } else if (reports == 2) {
                printf("TLB-CHECK array->guest: guest read %#x through TLB0[21] as the host changed it (want 0x5eed0002; 0x5eed0001 = a stale shadow)\n", v);
                dirty_ok = v == 0x5eed0002;
            } else if (reports == 3) {
                printf("TLB-CHECK array->guest: guest read %#x through the host's TLB1[3] (want 0x5eed0003)\n", v);
                show_entry("TLB0[21]", &tlb[5 * TLB0_WAYS + 1]);
                show_entry("TLB1[3]", &t1[3]);
                dirty_ok = dirty_ok && v == 0x5eed0003 && same_entry(&t1[3], MAS1_VALID | MAS1_TSIZE(2), 0x30000000, 0x7005);
            } else {
                dirty_ok = 0;
            }
        } else {
            printf("MMIO write of %u bytes at %#llx: no device (value %#x)\n", len, (unsigned long long)a, v);
        }
    }
    int status = ending == DEBUG_EXITED ? (int)(((exit_value << 1) | 1) & 0xff) : ending == POWERED_OFF ? 0 : -1;
    const char *how = ending == DEBUG_EXITED ? "debug-exit" : ending == POWERED_OFF ? "power-off" : "no ending";
    printf("guest ended: %s value %#x, status %d, %d MMIO exits\n", how, exit_value, status, mmio_exits);
    int pass;
    char why[200];
    if (!strcmp(mode, "hello")) {
        pass = has_line("hello from tetra") && ending == DEBUG_EXITED && exit_value == 0x10 && status == 33;
        snprintf(why, sizeof why, "console %s \"hello from tetra\", %s 0x%x, status %d",
            has_line("hello from tetra") ? "has" : "LACKS", how, exit_value, status);
    } else if (!strcmp(mode, "poweroff")) {
        pass = has_line("poweroff: bye") && ending == POWERED_OFF && status == 0;
        snprintf(why, sizeof why, "console %s \"poweroff: bye\", %s, status %d",
            has_line("poweroff: bye") ? "has" : "LACKS", how, status);
    } else {
        pass = array_ok && dirty_ok && reports == 3 && ending == DEBUG_EXITED && exit_value == 0x10;
        snprintf(why, sizeof why, "SW_TLB array = the guest's tlbwe: %s; host entries after KVM_DIRTY_TLB used by the guest: %s; %s 0x%x",
            array_ok ? "yes" : "NO", reports == 3 && dirty_ok ? "yes" : "NO", how, exit_value);
    }
    printf("BOOKE-CONTRACT %s %s: %s\n", mode, pass ? "PASS" : "FAIL", why);
    return pass ? 0 : 1;
}
