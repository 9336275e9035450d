//! Applying bundles to the two slots, on files standing for the ESP and the partitions: what is
//! written, what boots next at every moment, and what is refused without a change.

use std::collections::BTreeMap;
use std::fs::File;
use std::path::{Path, PathBuf};

use microcloud_update::{
    apply, read_entries, record_failure, rollback, status, BootFailure, Layout, Manifest, Payload,
    PublicKey, Slot, SlotError, SlotState, UpdateError, ARCH,
};
use ring::signature::{Ed25519KeyPair, KeyPair};
use sha2::{Digest, Sha256};

const SLOT_SIZE: u64 = 256 * 1024;
const CMDLINE: &str = "console=ttyS0 quiet panic=10";

struct Box {
    _dir: tempfile::TempDir,
    root: PathBuf,
    key: Ed25519KeyPair,
}

impl Box {
    /// A box as the image ships it: slot a holds version 1 and is good, slot b is blank.
    fn new() -> Box {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().to_owned();
        let esp = root.join("esp");
        std::fs::create_dir_all(esp.join("loader/entries")).unwrap();
        std::fs::create_dir_all(esp.join("microcloud/a")).unwrap();
        std::fs::write(esp.join("microcloud/a/vmlinuz"), b"kernel 1").unwrap();
        std::fs::write(esp.join("microcloud/a/initrd.img"), b"initrd 1").unwrap();
        std::fs::write(
            esp.join("loader/entries/microcloud-slot-a.conf"),
            format!(
                "title microcloud 0.1.0.1 (slot a)\nsort-key microcloud-999998\nversion 0.1.0.1\n\
                 linux /microcloud/a/vmlinuz\ninitrd /microcloud/a/initrd.img\n\
                 options {CMDLINE} microcloud.slot=a\n"
            ),
        )
        .unwrap();
        std::fs::write(
            esp.join("loader/entries/microcloud-factory-reset.conf"),
            format!(
                "title microcloud: factory reset (wipes all data)\nsort-key zz-microcloud-factory-reset\n\
                 linux /microcloud/a/vmlinuz\ninitrd /microcloud/a/initrd.img\n\
                 options {CMDLINE} microcloud.slot=a microcloud.factory_reset=1\n"
            ),
        )
        .unwrap();
        std::fs::create_dir_all(root.join("dev")).unwrap();
        for slot in ["a", "b"] {
            let f = File::create(root.join(format!("dev/mc-root-{slot}"))).unwrap();
            f.set_len(SLOT_SIZE).unwrap();
        }
        std::fs::write(root.join("dev/mc-root-a"), vec![b'1'; SLOT_SIZE as usize]).unwrap();
        let doc = Ed25519KeyPair::generate_pkcs8(&ring::rand::SystemRandom::new()).unwrap();
        let key = Ed25519KeyPair::from_pkcs8(doc.as_ref()).unwrap();
        Box {
            _dir: dir,
            root,
            key,
        }
    }

    fn layout(&self, booted: Slot) -> Layout {
        Layout {
            esp: self.root.join("esp"),
            partitions: self.root.join("dev"),
            cmdline: format!("{CMDLINE} microcloud.slot={booted}"),
        }
    }

    fn public(&self) -> PublicKey {
        PublicKey(self.key.public_key().as_ref().try_into().unwrap())
    }

    fn payloads(version: &str, root_len: usize) -> Vec<(&'static str, Vec<u8>)> {
        vec![
            (
                "root.squashfs",
                (0..root_len)
                    .map(|i| (i * 7 + version.len()) as u8)
                    .collect(),
            ),
            ("vmlinuz", format!("kernel {version}").into_bytes()),
            ("initrd.img", format!("initrd {version}").into_bytes()),
        ]
    }

    /// A bundle of `version`, signed by this box's key.
    fn bundle(&self, version: &str, root_len: usize) -> PathBuf {
        self.bundle_of(version, &Box::payloads(version, root_len), |_| {})
    }

    fn bundle_of(
        &self,
        version: &str,
        payloads: &[(&str, Vec<u8>)],
        spoil: impl FnOnce(&mut Vec<u8>),
    ) -> PathBuf {
        let m = Manifest {
            format: "microcloud-update".into(),
            format_version: 1,
            system_version: version.into(),
            arch: ARCH.into(),
            commit: "c0ffee".into(),
            built: "2026-12-03T00:00:00Z".into(),
            payloads: payloads
                .iter()
                .map(|(n, b)| Payload {
                    name: (*n).into(),
                    size: b.len() as u64,
                    sha256: hex(&Sha256::digest(b)),
                })
                .collect(),
        };
        let json = serde_json::to_vec(&m).unwrap();
        let sig = self.key.sign(&json).as_ref().to_vec();
        let path = self.root.join(format!("{version}.update"));
        let mut b = tar::Builder::new(File::create(&path).unwrap());
        let mut members = vec![("bundle.json", json), ("bundle.json.sig", sig)];
        members.extend(payloads.iter().map(|(n, b)| (*n, b.clone())));
        for (name, bytes) in members {
            let mut h = tar::Header::new_ustar();
            h.set_size(bytes.len() as u64);
            h.set_mode(0o644);
            h.set_cksum();
            b.append_data(&mut h, name, bytes.as_slice()).unwrap();
        }
        b.into_inner().unwrap();
        let mut bytes = std::fs::read(&path).unwrap();
        spoil(&mut bytes);
        std::fs::write(&path, bytes).unwrap();
        path
    }

    /// Every file of the ESP and both partitions, for before/after comparisons.
    fn snapshot(&self) -> BTreeMap<String, Vec<u8>> {
        let mut out = BTreeMap::new();
        walk(&self.root.join("esp"), &self.root, &mut out);
        walk(&self.root.join("dev"), &self.root, &mut out);
        out
    }

    /// What systemd-boot does at a boot of a counted entry: one try used.
    fn try_once(&self, slot: Slot) {
        let dir = self.root.join("esp/loader/entries");
        let e = read_entries(&self.layout(slot))
            .unwrap()
            .into_iter()
            .find(|e| e.slot == slot)
            .unwrap();
        let (left, done) = e.tries.unwrap();
        let next = format!("microcloud-slot-{slot}+{}-{}.conf", left - 1, done + 1);
        std::fs::rename(dir.join(&e.file), dir.join(next)).unwrap();
    }

    /// What systemd-bless-boot does once the boot is healthy: the counter goes.
    fn bless(&self, slot: Slot) {
        let dir = self.root.join("esp/loader/entries");
        let e = read_entries(&self.layout(slot))
            .unwrap()
            .into_iter()
            .find(|e| e.slot == slot)
            .unwrap();
        std::fs::rename(
            dir.join(&e.file),
            dir.join(format!("microcloud-slot-{slot}.conf")),
        )
        .unwrap();
    }

    fn reset_entry(&self) -> String {
        std::fs::read_to_string(
            self.root
                .join("esp/loader/entries/microcloud-factory-reset.conf"),
        )
        .unwrap()
    }
}

fn walk(dir: &Path, base: &Path, out: &mut BTreeMap<String, Vec<u8>>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            walk(&p, base, out);
        } else {
            let rel = p.strip_prefix(base).unwrap().to_string_lossy().into_owned();
            out.insert(rel, std::fs::read(&p).unwrap());
        }
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn no_progress() -> impl FnMut(microcloud_update::Progress<'_>) {
    |_| {}
}

#[test]
fn an_update_is_written_to_the_other_slot_and_boots_next_with_three_tries() {
    let b = Box::new();
    let layout = b.layout(Slot::A);
    let bundle = b.bundle("0.1.0.2", 100_000);
    let applied = apply(
        &layout,
        &bundle,
        &b.public(),
        Some("0.1.0.1"),
        false,
        &mut no_progress(),
    )
    .unwrap();
    assert_eq!(applied.slot, Slot::B);
    assert_eq!(applied.entry, "microcloud-slot-b+3.conf");
    assert_eq!(applied.generation, 2);
    // The slot's root starts with the payload, byte for byte; the kernel and initramfs are there.
    let root = std::fs::read(b.root.join("dev/mc-root-b")).unwrap();
    assert_eq!(root.len() as u64, SLOT_SIZE, "a partition keeps its size");
    assert_eq!(
        &root[..100_000],
        &Box::payloads("0.1.0.2", 100_000)[0].1[..]
    );
    assert_eq!(
        std::fs::read(b.root.join("esp/microcloud/b/vmlinuz")).unwrap(),
        b"kernel 0.1.0.2"
    );
    let text = std::fs::read_to_string(b.root.join("esp/loader/entries/microcloud-slot-b+3.conf"))
        .unwrap();
    assert!(text.contains("sort-key microcloud-999997\n"), "{text}");
    assert!(
        text.contains(&format!("options {CMDLINE} microcloud.slot=b\n")),
        "{text}"
    );
    assert!(text.contains("linux /microcloud/b/vmlinuz\n"), "{text}");

    let s = status(&layout, &[]).unwrap();
    assert_eq!(s.next, Some(Slot::B));
    assert_eq!(
        s.slots[1].state,
        SlotState::Trying {
            tries_left: 3,
            tries_done: 0
        }
    );
    assert_eq!(s.slots[0].state, SlotState::Good);
    assert!(s.slots[0].booted);
    assert!(s.rolled_back.is_none());
    // The old slot is untouched, and the factory reset still boots it.
    assert_eq!(
        std::fs::read(b.root.join("dev/mc-root-a")).unwrap(),
        vec![b'1'; SLOT_SIZE as usize]
    );
    assert!(b.reset_entry().contains("microcloud.slot=a "));
}

#[test]
fn a_slot_that_fails_its_tries_is_passed_over_and_the_status_says_why() {
    let b = Box::new();
    let layout = b.layout(Slot::A);
    let bundle = b.bundle("0.1.0.2", 5000);
    apply(
        &layout,
        &bundle,
        &b.public(),
        None,
        false,
        &mut no_progress(),
    )
    .unwrap();
    let failures = b.root.join("data/update/boot-failures.jsonl");
    for i in 0..3 {
        assert_eq!(status(&layout, &[]).unwrap().next, Some(Slot::B), "try {i}");
        b.try_once(Slot::B);
        record_failure(
            &failures,
            &BootFailure {
                slot: Slot::B,
                version: "0.1.0.2".into(),
                at: i,
                reason: format!("microcloud-gateway.service failed (try {})", i + 1),
            },
        )
        .unwrap();
    }
    // No tries left: systemd-boot starts slot a again, and the box knows what happened.
    let s = status(&layout, &microcloud_update::read_failures(&failures)).unwrap();
    assert_eq!(s.next, Some(Slot::A));
    assert_eq!(s.slots[1].state, SlotState::Bad { tries_done: 3 });
    let rb = s.rolled_back.expect("a rollback is reported");
    assert_eq!(
        (rb.slot, rb.version.as_str(), rb.tries),
        (Slot::B, "0.1.0.2", 3)
    );
    assert_eq!(rb.reasons.len(), 3);
    assert!(rb.reasons[0].contains("try 3"), "{:?}", rb.reasons);
    // A later update may go to slot b again: it replaces the bad entry.
    let bundle = b.bundle("0.1.0.3", 5000);
    apply(
        &layout,
        &bundle,
        &b.public(),
        None,
        false,
        &mut no_progress(),
    )
    .unwrap();
    let s = status(&layout, &[]).unwrap();
    assert_eq!(s.next, Some(Slot::B));
    assert!(s.rolled_back.is_none());
    assert_eq!(read_entries(&layout).unwrap().len(), 2);
}

#[test]
fn after_a_good_boot_the_next_update_goes_to_the_first_slot_and_the_reset_follows_the_good_one() {
    let b = Box::new();
    apply(
        &b.layout(Slot::A),
        &b.bundle("0.1.0.2", 5000),
        &b.public(),
        None,
        false,
        &mut no_progress(),
    )
    .unwrap();
    b.try_once(Slot::B);
    b.bless(Slot::B);
    let on_b = b.layout(Slot::B);
    let s = status(&on_b, &[]).unwrap();
    assert_eq!((s.booted, s.next), (Slot::B, Some(Slot::B)));
    assert_eq!(s.slots[1].state, SlotState::Good);

    let applied = apply(
        &on_b,
        &b.bundle("0.1.0.3", 7000),
        &b.public(),
        Some("0.1.0.2"),
        false,
        &mut no_progress(),
    )
    .unwrap();
    assert_eq!((applied.slot, applied.generation), (Slot::A, 3));
    let entries = read_entries(&on_b).unwrap();
    let files: Vec<&str> = entries.iter().map(|e| e.file.as_str()).collect();
    assert_eq!(
        files,
        ["microcloud-slot-a+3.conf", "microcloud-slot-b.conf"]
    );
    let reset = b.reset_entry();
    assert!(
        reset.contains("linux /microcloud/b/vmlinuz\n") && reset.contains("microcloud.slot=b "),
        "{reset}"
    );
    assert!(reset.contains("microcloud.factory_reset=1"), "{reset}");
}

#[test]
fn at_every_moment_of_an_apply_the_box_boots_a_good_slot() {
    let b = Box::new();
    let layout = b.layout(Slot::A);
    // Slot b held an older system: its entry goes before anything of the slot is written.
    apply(
        &layout,
        &b.bundle("0.1.0.2", 3000),
        &b.public(),
        None,
        false,
        &mut no_progress(),
    )
    .unwrap();
    let bundle = b.bundle("0.1.0.3", 3_000_000);
    let esp = layout.clone();
    let mut seen = 0;
    let mut check = |p: microcloud_update::Progress<'_>| {
        if p.step.starts_with("writing") {
            seen += 1;
            let s = status(&esp, &[]).unwrap();
            assert_eq!(s.next, Some(Slot::A), "during {} at {}", p.step, p.done);
            assert_eq!(s.slots[1].state, SlotState::Empty, "during {}", p.step);
        }
    };
    // Slot b's size is too small for 3 MB: grow the stand-in partition first.
    File::options()
        .write(true)
        .open(b.root.join("dev/mc-root-b"))
        .unwrap()
        .set_len(4 << 20)
        .unwrap();
    apply(&layout, &bundle, &b.public(), None, true, &mut check).unwrap();
    assert!(seen >= 5, "progress was reported while writing ({seen})");
    assert_eq!(status(&layout, &[]).unwrap().next, Some(Slot::B));
}

#[test]
fn refused_bundles_change_nothing() {
    let b = Box::new();
    let layout = b.layout(Slot::A);
    let before = b.snapshot();
    let run = |bundle: &Path, force: bool| {
        apply(
            &layout,
            bundle,
            &b.public(),
            Some("0.1.0.5"),
            force,
            &mut no_progress(),
        )
    };
    // A payload byte changed after signing.
    let p = Box::payloads("0.1.0.6", 5000);
    // bundle.json and its signature take a header and a block each: root.squashfs starts at 2560.
    let tampered = b.bundle_of("0.1.0.6", &p, |bytes| bytes[2560 + 100] ^= 1);
    assert!(matches!(
        run(&tampered, false),
        Err(SlotError::Update(UpdateError::Checksum { .. }))
    ));
    // Signed by another key.
    let other = Box::new();
    let foreign = other.bundle("0.1.0.6", 5000);
    assert!(matches!(
        run(&foreign, false),
        Err(SlotError::Update(UpdateError::BadSignature { .. }))
    ));
    // Cut short.
    let cut = b.bundle_of("0.1.0.6", &p, |bytes| bytes.truncate(bytes.len() - 3000));
    assert!(matches!(run(&cut, false), Err(SlotError::Update(_))));
    // Older than the running system, and the same version: only with --force.
    let older = b.bundle("0.1.0.4", 5000);
    let e = run(&older, false).unwrap_err();
    assert!(matches!(e, SlotError::NotNewer { .. }));
    assert!(e.to_string().contains("--force"), "{e}");
    assert!(matches!(
        run(&b.bundle("0.1.0.5", 5000), false),
        Err(SlotError::NotNewer { .. })
    ));
    // Bigger than the slot.
    let big = b.bundle("0.1.0.7", SLOT_SIZE as usize + 1);
    assert!(matches!(run(&big, false), Err(SlotError::TooLarge { .. })));
    // Not there.
    assert!(matches!(
        run(&b.root.join("missing.update"), false),
        Err(SlotError::Update(UpdateError::Io { .. }))
    ));
    assert_eq!(b.snapshot(), before, "nothing was written");
    // Forced, the older one is written.
    run(&older, true).unwrap();
    assert_ne!(b.snapshot(), before);
}

#[test]
fn no_update_is_written_while_the_running_system_is_on_trial() {
    let b = Box::new();
    apply(
        &b.layout(Slot::A),
        &b.bundle("0.1.0.2", 5000),
        &b.public(),
        None,
        false,
        &mut no_progress(),
    )
    .unwrap();
    b.try_once(Slot::B);
    let on_b = b.layout(Slot::B);
    let before = b.snapshot();
    let e = apply(
        &on_b,
        &b.bundle("0.1.0.3", 5000),
        &b.public(),
        None,
        false,
        &mut no_progress(),
    )
    .unwrap_err();
    assert!(
        matches!(e, SlotError::NotBlessed { slot: Slot::B, .. }),
        "{e}"
    );
    assert_eq!(b.snapshot(), before, "nothing was written");
}

#[test]
fn the_owner_rolls_back_to_the_slot_that_ran_before() {
    let b = Box::new();
    // Nothing to roll back to on a new box.
    assert!(matches!(
        rollback(&b.layout(Slot::A)),
        Err(SlotError::NoEntry { slot: Slot::B })
    ));
    apply(
        &b.layout(Slot::A),
        &b.bundle("0.1.0.2", 5000),
        &b.public(),
        None,
        false,
        &mut no_progress(),
    )
    .unwrap();
    // Slot b never booted healthy: not a place to roll back to from a.
    assert!(matches!(
        rollback(&b.layout(Slot::A)),
        Err(SlotError::NotGood { slot: Slot::B, .. })
    ));
    b.try_once(Slot::B);
    b.bless(Slot::B);
    let on_b = b.layout(Slot::B);
    let entry = rollback(&on_b).unwrap();
    assert_eq!((entry.slot, entry.generation), (Slot::A, 3));
    assert_eq!(entry.file, "microcloud-slot-a+3.conf");
    let s = status(&on_b, &[]).unwrap();
    assert_eq!(s.next, Some(Slot::A));
    assert_eq!(
        read_entries(&on_b).unwrap().len(),
        2,
        "the old entry is replaced"
    );
    // Slot a's system is not rewritten: only its entry.
    assert_eq!(
        std::fs::read(b.root.join("dev/mc-root-a")).unwrap(),
        vec![b'1'; SLOT_SIZE as usize]
    );
}
