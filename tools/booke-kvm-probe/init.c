/* /init of the e500v2 KVM host's initramfs (scripts/booke-kvm-probe): mounts devtmpfs, proc and
 * sysfs, prints the host CPU, runs `/probe MODE` for MODE = mmio, sc, hello, poweroff and tlb (the
 * last three: the booke lane's contracts, guest images in /guests), each in a child (a kernel
 * oops in KVM_RUN kills only the child), reports how each ended, then powers off (QEMU runs with
 * -no-reboot). */
#include <stdio.h>
#include <unistd.h>
#include <sys/mount.h>
#include <sys/reboot.h>
#include <sys/wait.h>
#include <sys/stat.h>

int main(void) {
    mkdir("/dev", 0755); mkdir("/proc", 0755); mkdir("/sys", 0755);
    mount("devtmpfs", "/dev", "devtmpfs", 0, NULL);
    mount("proc", "/proc", "proc", 0, NULL);
    mount("sysfs", "/sys", "sysfs", 0, NULL);
    mount("debugfs", "/sys/kernel/debug", "debugfs", 0, NULL);
    setvbuf(stdout, NULL, _IONBF, 0);
    FILE *f = fopen("/proc/cpuinfo", "r");
    char line[256];
    while (f && fgets(line, sizeof line, f)) printf("cpuinfo: %s", line);
    if (f) fclose(f);
    const char *modes[] = { "mmio", "sc", "hello", "poweroff", "tlb" };
    for (int i = 0; i < (int)(sizeof modes / sizeof modes[0]); i++) {
        printf("PROBE-INIT start %s\n", modes[i]);
        pid_t p = fork();
        if (p == 0) { execl("/probe", "/probe", modes[i], NULL); perror("exec /probe"); _exit(127); }
        int st = 0;
        waitpid(p, &st, 0);
        if (WIFEXITED(st)) printf("PROBE-INIT probe %s exited %d\n", modes[i], WEXITSTATUS(st));
        else if (WIFSIGNALED(st)) printf("PROBE-INIT probe %s killed by signal %d\n", modes[i], WTERMSIG(st));
    }
    sync();
    reboot(RB_POWER_OFF);
    reboot(RB_AUTOBOOT);
    for (;;) pause();
}
