use super::*;

/// A heap (three pages, a two-page hole), a library mapping far above
/// it, the stack 8 GiB above that: three regions. Repeats collapse; `M`
/// and `S` write.
const LOG: &str = "==1== Lackey\n\
I  04016b0,3\n \
L 555555554010,8\n \
L 555555554018,8\n \
S 555555555010,8\n \
L 555555558000,4\n \
M 7fe0000a3004,4\n \
L 7ffffffde000,8\n \
S 7ffffffde008,8\n \
L 555555554000,8\n";

fn import_str(log: &str, opts: ImportOptions) -> (PageTrace, ImportSummary) {
    let out = tempfile::NamedTempFile::new().unwrap();
    let summary = import(log.as_bytes(), out.path(), opts).unwrap();
    let bytes = std::fs::read(out.path()).unwrap();
    assert_eq!(bytes.len() as u64, summary.file_bytes);
    (decode(&bytes).unwrap(), summary)
}

#[test]
fn import_keeps_holes_regions_and_the_position_in_the_page_table_page() {
    let (t, s) = import_str(LOG, ImportOptions::default());
    assert_eq!((s.records, s.pages, s.regions, s.lines), (6, 5, 3, 10));
    // Page ids in address order: heap 0x555555554, 0x555555555,
    // 0x555555558; library 0x7fe0000a3; stack 0x7ffffffde.
    assert_eq!(
        t.records,
        vec![0, 1 | WRITE_BIT, 2, 3 | WRITE_BIT, 4 | WRITE_BIT, 0]
    );
    let recorded = [
        0x555555554u64,
        0x555555555,
        0x555555558,
        0x7fe0000a3,
        0x7ffffffde,
    ];
    let l = &t.layout;
    for (id, r) in recorded.iter().enumerate() {
        // Each page keeps its place in its 2 MiB page-table page.
        assert_eq!(l.pages[id] as u64 % 512, r % 512, "page {id}");
    }
    // Distances inside the heap region are kept: a hole of two pages.
    assert_eq!(l.pages[1] - l.pages[0], 1);
    assert_eq!(l.pages[2] - l.pages[1], 3);
    assert_eq!(l.regions.len(), 3);
    assert_eq!(l.regions[0].span, 5);
    assert_eq!(l.regions[0].recorded_page, 0x555555554);
    // Regions are 2 MiB apart at least, never adjacent.
    for w in l.regions.windows(2) {
        assert!(w[1].layout_start as u64 >= w[0].layout_start as u64 + w[0].span as u64 + 512);
    }
    assert_eq!(l.gap_bytes, DEFAULT_GAP_BYTES);
    // A threshold of two pages cuts the heap at its two-page hole; one of
    // three does not.
    let (t, _) = import_str(
        LOG,
        ImportOptions {
            gap_bytes: Some(3 << 12),
            ..ImportOptions::default()
        },
    );
    assert_eq!(t.layout.regions.len(), 3);
    let (t, _) = import_str(
        LOG,
        ImportOptions {
            gap_bytes: Some(2 << 12),
            ..ImportOptions::default()
        },
    );
    assert_eq!(t.layout.regions.len(), 4);
}

#[test]
fn dense_import_is_what_version_1_replayed() {
    let opts = ImportOptions {
        gap_bytes: None,
        ..ImportOptions::default()
    };
    let (t, _) = import_str(LOG, opts);
    assert_eq!(t.layout, Layout::dense(5, 0x555555554));
    let (short, s) = import_str(
        LOG,
        ImportOptions {
            max_records: 2,
            ..opts
        },
    );
    assert_eq!((short.records.len(), s.pages), (2, 2));
}

#[test]
fn version_1_still_decodes() {
    let records = vec![2 | WRITE_BIT, 0, 1 | WRITE_BIT, 2];
    let t = decode(&encode_v1(3, &records)).unwrap();
    assert_eq!(t.records, records);
    assert_eq!(t.layout, Layout::dense(3, 0));
    // And converts to version 2 without change.
    assert_eq!(decode(&encode(&t)).unwrap(), t);
}

#[test]
fn version_2_round_trips_across_chunks() {
    let n = RECORDS_PER_CHUNK * 2 + 7;
    let records: Vec<u32> = (0..n as u32)
        .map(|i| ((i * 7919) % 1000) | if i % 3 == 0 { WRITE_BIT } else { 0 })
        .collect();
    let pages: Vec<u64> = (0..1000u64)
        .map(|p| p * 3 + (p / 100) * (1 << 20))
        .collect();
    let t = PageTrace {
        layout: Layout::kept(&pages, 1 << 30).unwrap(),
        records,
    };
    let bytes = encode(&t);
    let h = parse_header(&bytes, bytes.len() as u64).unwrap();
    assert_eq!((h.n_chunks, h.n_records), (3, n as u64));
    assert_eq!(decode(&bytes).unwrap(), t);
    for codec in [Codec::Raw, Codec::Zstd] {
        let bytes = encode_with(&t, codec, 1000);
        let h = parse_header(&bytes, bytes.len() as u64).unwrap();
        assert_eq!((h.codec, h.n_chunks), (codec, n.div_ceil(1000) as u32));
        assert_eq!(decode(&bytes).unwrap(), t);
    }
}

#[test]
fn malformed_input_names_the_place() {
    let out = tempfile::NamedTempFile::new().unwrap();
    let e = import(
        "I  0401,3\n".as_bytes(),
        out.path(),
        ImportOptions::default(),
    )
    .unwrap_err();
    assert!(e.contains("no data accesses"), "{e}");
    let e = import(" L zz,8\n".as_bytes(), out.path(), ImportOptions::default()).unwrap_err();
    assert!(e.contains("line 1: expected a hex address"), "{e}");
    let good = std::fs::read({
        import(LOG.as_bytes(), out.path(), ImportOptions::default()).unwrap();
        out.path()
    })
    .unwrap();
    let with = |off: usize, v: &[u8]| {
        let mut b = good.clone();
        b[off..off + v.len()].copy_from_slice(v);
        decode(&b).unwrap_err()
    };
    assert!(with(8, &[9]).contains("offset 8: expected version 1 or 2, found 9"));
    assert!(with(12, &[7])
        .contains("offset 12: expected a codec of 0 (raw), 1 (lz4) or 2 (zstd), found 7"));
    assert!(decode(b"NOTATRACE").unwrap_err().contains("offset 0"));
    assert!(with(24, &u32::MAX.to_le_bytes()).contains(
        "offset 24: expected a page count from 1 to the record count 6, found 4294967295"
    ));
    assert!(with(16, &u64::MAX.to_le_bytes()).contains("offset 36: expected"));
    assert!(with(48, &1u64.to_le_bytes()).contains("offset 48"));
    assert!(with(32, &0u32.to_le_bytes()).contains("offset 32"));
    // A layout page out of order.
    let tables = u64::from_le_bytes(good[48..56].try_into().unwrap()) as usize;
    let pages_at = tables + 4 + 16 * 3;
    let e = with(pages_at, &u32::MAX.to_le_bytes());
    assert!(
        e.contains("page 0: layout page 4294967295 is in no region"),
        "{e}"
    );
    assert!(e.starts_with(&format!("offset {pages_at}:")), "{e}");
    let e = with(tables + 4 + 12, &0u32.to_le_bytes()); // region 0's span
    assert!(
        e.starts_with(&format!("offset {}: region 0", tables + 4)),
        "{e}"
    );
    let e = with(pages_at + 4, &0u32.to_le_bytes());
    assert!(
        e.contains("page 1: expected layout pages in increasing order"),
        "{e}"
    );
    // A version 1 header claiming 4 GiB of lz4 payload is refused before
    // any allocation.
    let mut v1 = encode_v1(3, &[0, 1, 2]);
    v1[16..20].copy_from_slice(&u32::MAX.to_le_bytes());
    assert!(decode(&v1)
        .unwrap_err()
        .contains("offset 16: expected a payload length of at most"));
    assert!(decode(&huge_page_count_v1())
        .unwrap_err()
        .contains("payload offset 0: expected a page count no larger than the access count 1, found 4294967295"));
}

/// A version 1 file (the first importer's output).
pub(crate) fn encode_v1(n_pages: u32, records: &[u32]) -> Vec<u8> {
    let mut payload = Vec::new();
    payload.extend_from_slice(&n_pages.to_le_bytes());
    payload.extend_from_slice(&(records.len() as u32).to_le_bytes());
    for r in records {
        payload.extend_from_slice(&r.to_le_bytes());
    }
    let mut out = Vec::new();
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&1u32.to_le_bytes());
    out.extend_from_slice(&1u32.to_le_bytes()); // lz4
    out.extend_from_slice(&(payload.len() as u32).to_le_bytes());
    out.extend_from_slice(&lz4_flex::block::compress(&payload));
    out
}

/// An uncompressed version 1 trace of one access whose header claims
/// 2^32 - 1 pages.
fn huge_page_count_v1() -> Vec<u8> {
    let mut b = Vec::new();
    b.extend_from_slice(MAGIC);
    b.extend_from_slice(&1u32.to_le_bytes());
    b.extend_from_slice(&0u32.to_le_bytes());
    b.extend_from_slice(&12u32.to_le_bytes());
    b.extend_from_slice(&u32::MAX.to_le_bytes());
    b.extend_from_slice(&1u32.to_le_bytes());
    b.extend_from_slice(&0u32.to_le_bytes());
    b
}

#[test]
fn the_trace_disk_holds_every_trace_in_version_2() {
    let dir = tempfile::tempdir().unwrap();
    let v1 = dir.path().join("a.fltrace");
    std::fs::write(&v1, encode_v1(3, &[2 | WRITE_BIT, 0, 1])).unwrap();
    let v2 = dir.path().join("b.fltrace");
    import(LOG.as_bytes(), &v2, ImportOptions::default()).unwrap();
    let disk = dir.path().join("traces.img");
    disk::create_trace_disk(&[&v1, &v2], &disk).unwrap();
    assert_eq!(std::fs::metadata(&disk).unwrap().len() % 4096, 0);
    let a = decode(&disk::read_trace(&disk, 0).unwrap()).unwrap();
    assert_eq!(a.records, vec![2 | WRITE_BIT, 0, 1]);
    // The zstd trace import wrote is the same trace in lz4 chunks of at
    // most 2^16 records on the disk.
    let b = disk::read_trace(&disk, 1).unwrap();
    let h = parse_header(&b, b.len() as u64).unwrap();
    assert_eq!(
        (h.codec, h.records_per_chunk),
        (Codec::Lz4, RECORDS_PER_CHUNK as u32)
    );
    assert_eq!(
        decode(&b).unwrap(),
        decode(&std::fs::read(&v2).unwrap()).unwrap()
    );
}
