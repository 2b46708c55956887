//! With the `ebpf` feature: vmlinux.h from the running kernel's BTF
//! (bpftool), then the BPF program compiled by clang into a skeleton.

fn main() {
    #[cfg(feature = "ebpf")]
    ebpf();
}

#[cfg(feature = "ebpf")]
fn ebpf() {
    use std::path::PathBuf;
    let out = PathBuf::from(std::env::var_os("OUT_DIR").expect("OUT_DIR"));
    let vmlinux = out.join("vmlinux.h");
    let dumped = std::process::Command::new("bpftool")
        .args([
            "btf",
            "dump",
            "file",
            "/sys/kernel/btf/vmlinux",
            "format",
            "c",
        ])
        .output()
        .unwrap_or_else(|e| {
            panic!("the ebpf feature needs bpftool (apt-get install bpftool): {e}")
        });
    assert!(
        dumped.status.success(),
        "bpftool could not read the kernel's BTF (/sys/kernel/btf/vmlinux): {}",
        String::from_utf8_lossy(&dumped.stderr)
    );
    std::fs::write(&vmlinux, dumped.stdout).expect("writing vmlinux.h");
    libbpf_cargo::SkeletonBuilder::new()
        .source("src/bpf/handshakes.bpf.c")
        .clang_args([std::ffi::OsString::from("-I"), out.clone().into_os_string()])
        .build_and_generate(out.join("handshakes.skel.rs"))
        .expect("compiling src/bpf/handshakes.bpf.c (clang, libbpf)");
    println!("cargo:rerun-if-changed=src/bpf/handshakes.bpf.c");
}
