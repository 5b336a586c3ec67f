//! The quarter turn a player applies to an MP4/MOV video: phones record portrait video as
//! landscape frames and put the rotation in the track header's matrix (`tkhd`), so the
//! displayed width and height are the coded ones swapped. symphonia's MP4 reader does not
//! keep the matrix, so this walks the boxes to it: `moov` → `trak` (the first whose
//! `mdia/hdlr` says `vide`) → `tkhd`, seeking past everything else (a `moov` after the media
//! data costs one seek, not a read of the data).

use std::io::{self, Read, Seek, SeekFrom};

/// The most boxes looked at in one file: a real `moov` has a few dozen on the path walked; a
/// file of millions of tiny boxes is not walked to the end.
const MAX_BOXES: usize = 4096;

/// Whether the first video track is displayed turned by a quarter (90° or 270°), so that its
/// displayed sides are its coded sides swapped. `None` when the file says nothing readable.
pub fn turned_a_quarter(reader: &mut (impl Read + Seek), file_size: u64) -> Option<bool> {
    let mut budget = MAX_BOXES;
    let moov = find_box(reader, 0, file_size, *b"moov", &mut budget)?;
    let mut at = moov.body;
    while let Some(trak) = find_box(reader, at, moov.end, *b"trak", &mut budget) {
        at = trak.end;
        if is_video(reader, &trak, &mut budget) {
            let tkhd = find_box(reader, trak.body, trak.end, *b"tkhd", &mut budget)?;
            return read_matrix(reader, &tkhd).map(is_quarter_turn);
        }
    }
    None
}

/// A box's body (after its header) and end, as offsets in the file.
struct Span {
    body: u64,
    end: u64,
}

/// The first box of `kind` among the boxes from `start` to `end`.
fn find_box(
    reader: &mut (impl Read + Seek),
    mut start: u64,
    end: u64,
    kind: [u8; 4],
    budget: &mut usize,
) -> Option<Span> {
    while start.checked_add(8)? <= end && *budget > 0 {
        *budget -= 1;
        reader.seek(SeekFrom::Start(start)).ok()?;
        let mut header = [0u8; 8];
        reader.read_exact(&mut header).ok()?;
        let size = u32::from_be_bytes(header[..4].try_into().ok()?);
        let (body, box_end) = match size {
            // The box runs to the end of its parent.
            0 => (start + 8, end),
            // The size follows as 64 bits.
            1 => {
                let mut large = [0u8; 8];
                reader.read_exact(&mut large).ok()?;
                (start + 16, start.checked_add(u64::from_be_bytes(large))?)
            }
            2..=7 => return None,
            size => (start + 8, start + u64::from(size)),
        };
        if box_end > end || box_end < body {
            return None;
        }
        if header[4..] == kind {
            return Some(Span { body, end: box_end });
        }
        start = box_end;
    }
    None
}

/// Whether the track's media handler is video (`mdia/hdlr` of type `vide`).
fn is_video(reader: &mut (impl Read + Seek), trak: &Span, budget: &mut usize) -> bool {
    let handler = || -> Option<[u8; 4]> {
        let mdia = find_box(reader, trak.body, trak.end, *b"mdia", budget)?;
        let hdlr = find_box(reader, mdia.body, mdia.end, *b"hdlr", budget)?;
        // Version and flags (4 bytes), pre_defined (4), then the handler type.
        let mut fields = [0u8; 12];
        read_at(reader, &hdlr, 0, &mut fields)?;
        fields[8..].try_into().ok()
    }();
    handler == Some(*b"vide")
}

/// The `tkhd` matrix's a, b, c and d (16.16 fixed point), which carry the rotation.
fn read_matrix(reader: &mut (impl Read + Seek), tkhd: &Span) -> Option<[i32; 4]> {
    let mut version = [0u8; 1];
    read_at(reader, tkhd, 0, &mut version)?;
    // Version and flags (4), the times, id and duration (20 bytes in version 0, 32 in
    // version 1), reserved (8), layer, alternate group, volume, reserved (8): then the matrix.
    let matrix_at = match version[0] {
        0 => 4 + 20 + 16,
        1 => 4 + 32 + 16,
        _ => return None,
    };
    let mut matrix = [0u8; 36];
    read_at(reader, tkhd, matrix_at, &mut matrix)?;
    let value = |i: usize| i32::from_be_bytes(matrix[i * 4..i * 4 + 4].try_into().unwrap());
    Some([value(0), value(1), value(3), value(4)])
}

/// A quarter turn's matrix has zeros on its diagonal and ±1 off it.
fn is_quarter_turn([a, b, c, d]: [i32; 4]) -> bool {
    a == 0 && d == 0 && b != 0 && c != 0
}

/// Fills `buf` from `offset` within the box's body; `None` if the box is shorter.
fn read_at(
    reader: &mut (impl Read + Seek),
    span: &Span,
    offset: u64,
    buf: &mut [u8],
) -> Option<()> {
    let at = span.body.checked_add(offset)?;
    if at.checked_add(buf.len() as u64)? > span.end {
        return None;
    }
    reader.seek(SeekFrom::Start(at)).ok()?;
    reader.read_exact(buf).map_err(|_: io::Error| ()).ok()
}

#[cfg(test)]
mod tests {
    use std::io::Cursor;

    use super::*;

    /// A box of `kind` around `body`.
    fn mp4_box(kind: &[u8; 4], body: &[u8]) -> Vec<u8> {
        let mut out = ((body.len() + 8) as u32).to_be_bytes().to_vec();
        out.extend_from_slice(kind);
        out.extend_from_slice(body);
        out
    }

    fn tkhd(version: u8, matrix: [i32; 9]) -> Vec<u8> {
        let mut body = vec![version, 0, 0, 3];
        body.resize(body.len() + if version == 1 { 32 } else { 20 } + 16, 0);
        for value in matrix {
            body.extend_from_slice(&value.to_be_bytes());
        }
        body.extend_from_slice(&[0; 8]); // width and height
        mp4_box(b"tkhd", &body)
    }

    fn trak(handler: &[u8; 4], tkhd: Vec<u8>) -> Vec<u8> {
        let mut hdlr = vec![0; 8];
        hdlr.extend_from_slice(handler);
        hdlr.extend_from_slice(&[0; 12]);
        let mdia = mp4_box(b"mdia", &mp4_box(b"hdlr", &hdlr));
        mp4_box(b"trak", &[tkhd, mdia].concat())
    }

    const ONE: i32 = 0x1_0000;
    const IDENTITY: [i32; 9] = [ONE, 0, 0, 0, ONE, 0, 0, 0, 0x4000_0000];
    const QUARTER: [i32; 9] = [0, ONE, 0, -ONE, 0, 0, 0, 0, 0x4000_0000];

    fn turned(file: Vec<u8>) -> Option<bool> {
        let size = file.len() as u64;
        turned_a_quarter(&mut Cursor::new(file), size)
    }

    #[test]
    fn the_first_video_tracks_matrix_decides_past_an_audio_track_and_the_media_data() {
        let moov = mp4_box(
            b"moov",
            &[
                trak(b"soun", tkhd(0, QUARTER)),
                trak(b"vide", tkhd(1, QUARTER)),
            ]
            .concat(),
        );
        let file = [
            mp4_box(b"ftyp", b"isom"),
            mp4_box(b"mdat", &[7; 1000]),
            moov,
        ]
        .concat();
        assert_eq!(turned(file), Some(true));
        let upright = mp4_box(b"moov", &trak(b"vide", tkhd(0, IDENTITY)));
        assert_eq!(turned(upright), Some(false));
    }

    #[test]
    fn broken_or_looping_boxes_answer_nothing_and_never_panic() {
        let video = trak(b"vide", tkhd(0, QUARTER));
        let whole = mp4_box(b"moov", &video);
        for cut in 0..whole.len() {
            let _ = turned(whole[..cut].to_vec());
        }
        // A size of 4 would never advance.
        let mut looping = whole.clone();
        looping[8..12].copy_from_slice(&4u32.to_be_bytes());
        assert_eq!(turned(looping), None);
        // A child that claims to run past its parent.
        let mut overlong = whole;
        overlong[8..12].copy_from_slice(&u32::MAX.to_be_bytes());
        assert_eq!(turned(overlong), None);
    }
}
