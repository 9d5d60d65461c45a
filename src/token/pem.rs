//! PEM, just enough for keys and certificates (RFC 7468), without another dependency.

use data_encoding::BASE64;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PemBlock {
    pub label: String,
    pub der: Vec<u8>,
}

/// Every `-----BEGIN X-----` … `-----END X-----` block in `text`, in order.
/// Text outside blocks (comments such as openssl's "Bag Attributes") is ignored.
pub fn decode_pem(text: &str) -> Result<Vec<PemBlock>, String> {
    let mut blocks = Vec::new();
    let mut lines = text.lines().enumerate();
    while let Some((n, line)) = lines.next() {
        let Some(label) = line
            .trim()
            .strip_prefix("-----BEGIN ")
            .and_then(|l| l.strip_suffix("-----"))
        else {
            continue;
        };
        let end = format!("-----END {label}-----");
        let mut body = String::new();
        let mut closed = false;
        for (_, l) in lines.by_ref() {
            if l.trim() == end {
                closed = true;
                break;
            }
            body.push_str(l.trim());
        }
        if !closed {
            return Err(format!("line {}: {label} block is never closed", n + 1));
        }
        let der = BASE64
            .decode(body.as_bytes())
            .map_err(|e| format!("line {}: {label} block is not valid base64: {e}", n + 1))?;
        blocks.push(PemBlock {
            label: label.to_string(),
            der,
        });
    }
    Ok(blocks)
}

pub fn encode_pem(label: &str, der: &[u8]) -> String {
    let b64 = BASE64.encode(der);
    let mut out = format!("-----BEGIN {label}-----\n");
    for chunk in b64.as_bytes().chunks(64) {
        out.push_str(std::str::from_utf8(chunk).expect("base64 is ASCII"));
        out.push('\n');
    }
    out.push_str(&format!("-----END {label}-----\n"));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pem_blocks_round_trip_and_ignore_surrounding_text() {
        let der: Vec<u8> = (0..=255u8).collect();
        let text = format!(
            "Bag Attributes\n{}junk\n{}",
            encode_pem("CERTIFICATE", &der),
            encode_pem("PRIVATE KEY", &[1, 2, 3])
        );
        let blocks = decode_pem(&text).unwrap();
        assert_eq!(blocks.len(), 2);
        assert_eq!(
            blocks[0],
            PemBlock {
                label: "CERTIFICATE".into(),
                der
            }
        );
        assert_eq!(blocks[1].label, "PRIVATE KEY");
    }

    #[test]
    fn an_unclosed_pem_block_is_an_error_with_its_line() {
        let e = decode_pem("\n-----BEGIN CERTIFICATE-----\nAAAA\n").unwrap_err();
        assert!(e.starts_with("line 2:"), "{e}");
    }
}
