//! A minimal DER reader: enough to find a certificate's SubjectPublicKeyInfo and validity,
//! and to build the SPKI of a key. The point of reading the SPKI ourselves is the check that
//! a certificate matches the private key (the classic "token signed by untrusted key").

/// One TLV element: its tag, its content, and the whole encoding.
pub struct Tlv<'a> {
    pub tag: u8,
    pub content: &'a [u8],
    pub raw: &'a [u8],
}

/// Reads one element from the front of `input`; returns it and the rest.
pub fn read(input: &[u8]) -> Option<(Tlv<'_>, &[u8])> {
    let tag = *input.first()?;
    let first = *input.get(1)?;
    let (len, header) = if first < 0x80 {
        (first as usize, 2)
    } else {
        let n = (first & 0x7f) as usize;
        if n == 0 || n > 4 {
            return None;
        }
        let mut len = 0usize;
        for i in 0..n {
            len = (len << 8) | *input.get(2 + i)? as usize;
        }
        (len, 2 + n)
    };
    let end = header.checked_add(len)?;
    if end > input.len() {
        return None;
    }
    Some((
        Tlv {
            tag,
            content: &input[header..end],
            raw: &input[..end],
        },
        &input[end..],
    ))
}

/// What we need from an X.509 certificate.
pub struct CertInfo<'a> {
    pub spki: &'a [u8],
    /// notAfter as Unix seconds.
    pub not_after: i64,
}

/// Certificate → tbsCertificate → [version], serial, sigAlg, issuer, validity, subject, SPKI.
pub fn cert_info(cert: &[u8]) -> Option<CertInfo<'_>> {
    let (certificate, _) = read(cert)?;
    let (tbs, _) = read(certificate.content)?;
    let mut rest = tbs.content;
    let mut fields = Vec::with_capacity(7);
    while fields.len() < 7 && !rest.is_empty() {
        let (el, r) = read(rest)?;
        fields.push(el);
        rest = r;
    }
    // The version is an optional explicit [0] tag.
    let skip = usize::from(fields.first()?.tag == 0xa0);
    let validity = fields.get(3 + skip)?;
    let spki = fields.get(5 + skip)?;
    let (_not_before, r) = read(validity.content)?;
    let (not_after, _) = read(r)?;
    Some(CertInfo {
        spki: spki.raw,
        not_after: parse_time(not_after.tag, not_after.content)?,
    })
}

/// UTCTime (tag 0x17, YYMMDDHHMMSSZ) or GeneralizedTime (0x18, YYYYMMDDHHMMSSZ).
fn parse_time(tag: u8, s: &[u8]) -> Option<i64> {
    let s = std::str::from_utf8(s).ok()?.strip_suffix('Z')?;
    let (year, rest) = match tag {
        0x17 => {
            let yy: i32 = s.get(..2)?.parse().ok()?;
            (if yy >= 50 { 1900 + yy } else { 2000 + yy }, s.get(2..)?)
        }
        0x18 => (s.get(..4)?.parse().ok()?, s.get(4..)?),
        _ => return None,
    };
    let num = |r: std::ops::Range<usize>| rest.get(r)?.parse::<u8>().ok();
    let date =
        time::Date::from_calendar_date(year, time::Month::try_from(num(0..2)?).ok()?, num(2..4)?)
            .ok()?;
    let t = time::Time::from_hms(num(4..6)?, num(6..8)?, num(8..10)?).ok()?;
    Some(
        time::PrimitiveDateTime::new(date, t)
            .assume_utc()
            .unix_timestamp(),
    )
}

/// DER length octets.
fn len_bytes(len: usize) -> Vec<u8> {
    if len < 0x80 {
        return vec![len as u8];
    }
    let bytes: Vec<u8> = len
        .to_be_bytes()
        .iter()
        .copied()
        .skip_while(|&b| b == 0)
        .collect();
    let mut out = vec![0x80 | bytes.len() as u8];
    out.extend(bytes);
    out
}

pub fn tlv(tag: u8, content: &[u8]) -> Vec<u8> {
    let mut out = vec![tag];
    out.extend(len_bytes(content.len()));
    out.extend_from_slice(content);
    out
}

/// The canonical SPKI Go's `x509.MarshalPKIXPublicKey` produces for a P-256 key: the fixed
/// AlgorithmIdentifier (id-ecPublicKey, prime256v1) and the uncompressed point.
pub fn p256_spki(point: &[u8]) -> Vec<u8> {
    const ALG: &[u8] = &[
        0x30, 0x13, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01, 0x06, 0x08, 0x2a, 0x86,
        0x48, 0xce, 0x3d, 0x03, 0x01, 0x07,
    ];
    let mut bits = vec![0u8];
    bits.extend_from_slice(point);
    let mut body = ALG.to_vec();
    body.extend(tlv(0x03, &bits));
    tlv(0x30, &body)
}

/// The canonical SPKI of an RSA key: rsaEncryption with NULL parameters and the PKCS#1
/// RSAPublicKey in a BIT STRING.
pub fn rsa_spki(pkcs1: &[u8]) -> Vec<u8> {
    const ALG: &[u8] = &[
        0x30, 0x0d, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01, 0x05, 0x00,
    ];
    let mut bits = vec![0u8];
    bits.extend_from_slice(pkcs1);
    let mut body = ALG.to_vec();
    body.extend(tlv(0x03, &bits));
    tlv(0x30, &body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_lengths_round_trip_through_read() {
        let content = vec![7u8; 300];
        let encoded = tlv(0x04, &content);
        assert_eq!(&encoded[..4], &[0x04, 0x82, 0x01, 0x2c]);
        let (el, rest) = read(&encoded).unwrap();
        assert_eq!(el.content, &content[..]);
        assert!(rest.is_empty());
    }

    #[test]
    fn truncated_input_is_refused() {
        assert!(read(&[0x30, 0x05, 0x01]).is_none());
        assert!(read(&[0x30, 0x85, 1, 1, 1, 1, 1]).is_none());
    }

    #[test]
    fn both_asn1_time_forms_parse() {
        assert_eq!(parse_time(0x17, b"700101000000Z"), Some(0));
        assert_eq!(parse_time(0x18, b"20380119031408Z"), Some(2_147_483_648));
        assert_eq!(parse_time(0x17, b"491231235959Z"), Some(2_524_607_999));
    }
}
