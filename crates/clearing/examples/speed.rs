use std::time::Instant;
use clearing::file::{Form, Header, Reader, Writer, blank_record};
use clearing::{BusinessDate, FeeSchedule};
fn main() {
    { use sha1::Digest; let buf = vec![7u8; 300_000_000]; let t = Instant::now(); let mut h = sha1::Sha1::new(); for c in buf.chunks(308) { h.update(c); } let d = h.finalize(); println!("sha1 300MB {:?} {}", t.elapsed(), d[0]); }
    let n = 1_000_000u64;
    let date = BusinessDate::from_ymd(2026, 12, 4).unwrap();
    let t = Instant::now();
    let mut g = clearing::synthetic::records(1, n, 100, date, &FeeSchedule::china_2016());
    let mut r = blank_record(date);
    let mut records = Vec::new();
    while g.next_into(&mut r) { records.push(r.clone()); }
    println!("generate+clone {:?}", t.elapsed());
    let t = Instant::now();
    let mut g = clearing::synthetic::records(1, n, 100, date, &FeeSchedule::china_2016());
    while g.next_into(&mut r) {}
    println!("generate {:?}", t.elapsed());
    for form in [Form::FixedWidth, Form::Csv] {
        let header = Header { network: "1".into(), member: "2".into(), date };
        let mut out = Vec::with_capacity(400 * n as usize);
        let t = Instant::now();
        let mut w = Writer::new(&mut out, form, &header).unwrap();
        for rec in &records { w.write(rec).unwrap(); }
        w.finish().unwrap();
        println!("{form:?} write {:?} {} bytes", t.elapsed(), out.len());
        let t = Instant::now();
        let mut rd = Reader::open(&out[..]).unwrap();
        let mut c = 0;
        while rd.read_into(&mut r).unwrap() { c += 1; }
        println!("{form:?} read_into {:?} {c}", t.elapsed());
        let t = Instant::now();
        let all = clearing::file::read_all(&out[..]).unwrap();
        println!("{form:?} read_all {:?} {}", t.elapsed(), all.1.len());
    }
}
#[allow(dead_code)]
fn sha() {}
