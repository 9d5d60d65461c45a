//! PEM files (RFC 7468) through the `pem` crate, in the shape the key and certificate code
//! reads them: labelled DER blocks, in order, ignoring text around them (openssl's "Bag
//! Attributes"), written with LF line endings.

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PemBlock {
    pub label: String,
    pub der: Vec<u8>,
}

/// Every `-----BEGIN X-----` … `-----END X-----` block in `text`, in order.
pub fn decode_pem(text: &str) -> Result<Vec<PemBlock>, String> {
    pem::parse_many(text)
        .map_err(|e| format!("not valid PEM: {e}"))
        .map(|blocks| {
            blocks
                .into_iter()
                .map(|b| PemBlock {
                    label: b.tag().to_string(),
                    der: b.into_contents(),
                })
                .collect()
        })
}

pub fn encode_pem(label: &str, der: &[u8]) -> String {
    pem::encode_config(
        &pem::Pem::new(label, der),
        pem::EncodeConfig::new().set_line_ending(pem::LineEnding::LF),
    )
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
        assert!(!encode_pem("X", &[1]).contains('\r'), "LF line endings");
    }

    #[test]
    fn an_unclosed_pem_block_yields_nothing_so_its_reader_says_what_is_missing() {
        assert_eq!(
            decode_pem("\n-----BEGIN CERTIFICATE-----\nAAAA\n").unwrap(),
            []
        );
    }
}
