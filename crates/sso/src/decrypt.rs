//! Decrypting an `EncryptedAssertion` (XML Encryption 1.1) with the SP key: RSA-OAEP key
//! transport (RSA PKCS#1 v1.5 is refused: it is open to padding-oracle attacks), then AES-GCM or
//! AES-CBC content encryption. Every failure is the same [`ResponseError::Decryption`] to the
//! caller, and the browser sees none of them, so no padding oracle is offered.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use libxml::tree::Node;
use openssl::encrypt::Decrypter;
use openssl::hash::MessageDigest;
use openssl::pkey::{PKey, Private};
use openssl::rsa::Padding;
use openssl::symm::{Cipher, Crypter, Mode, decrypt_aead};

use crate::error::ResponseError;
use crate::xml::{DSIG, XENC, children, compact_text, only_child};

const XENC11: &str = "http://www.w3.org/2009/xmlenc11#";
const RSA_OAEP_MGF1P: &str = "http://www.w3.org/2001/04/xmlenc#rsa-oaep-mgf1p";
const RSA_OAEP: &str = "http://www.w3.org/2009/xmlenc11#rsa-oaep";
const GCM_TAG_BYTES: usize = 16;
const GCM_IV_BYTES: usize = 12;
const CBC_IV_BYTES: usize = 16;

fn fail(reason: &'static str) -> ResponseError {
    ResponseError::Decryption(reason)
}

/// Decrypts the `EncryptedAssertion` element into the assertion's XML text.
pub(crate) fn decrypt_assertion(
    encrypted_assertion: &Node,
    key: &PKey<Private>,
) -> Result<String, ResponseError> {
    let data = only_child(encrypted_assertion, XENC, "EncryptedData")
        .ok_or(fail("not exactly one EncryptedData"))?;
    let mut keys = only_child(&data, DSIG, "KeyInfo")
        .map(|info| children(&info, XENC, "EncryptedKey"))
        .unwrap_or_default();
    keys.extend(children(encrypted_assertion, XENC, "EncryptedKey"));
    let [encrypted_key] = keys.as_slice() else {
        return Err(fail("not exactly one EncryptedKey"));
    };
    let content_key = unwrap_key(encrypted_key, key)?;
    let method = only_child(&data, XENC, "EncryptionMethod")
        .and_then(|m| m.get_attribute("Algorithm"))
        .ok_or(fail("no content EncryptionMethod"))?;
    let ciphertext = cipher_value(&data)?;
    let plaintext = decrypt_content(&method, &content_key, &ciphertext)?;
    String::from_utf8(plaintext).map_err(|_| fail("the plaintext is not UTF-8"))
}

fn cipher_value(node: &Node) -> Result<Vec<u8>, ResponseError> {
    let value = only_child(node, XENC, "CipherData")
        .and_then(|data| only_child(&data, XENC, "CipherValue"))
        .ok_or(fail("no CipherValue"))?;
    STANDARD
        .decode(compact_text(&value))
        .map_err(|_| fail("a CipherValue is not base64"))
}

fn digest_by_uri(uri: &str) -> Option<MessageDigest> {
    match uri {
        "http://www.w3.org/2000/09/xmldsig#sha1" => Some(MessageDigest::sha1()),
        "http://www.w3.org/2001/04/xmlenc#sha256" => Some(MessageDigest::sha256()),
        "http://www.w3.org/2001/04/xmldsig-more#sha384" => Some(MessageDigest::sha384()),
        "http://www.w3.org/2001/04/xmlenc#sha512" => Some(MessageDigest::sha512()),
        _ => None,
    }
}

fn mgf_by_uri(uri: &str) -> Option<MessageDigest> {
    match uri {
        "http://www.w3.org/2009/xmlenc11#mgf1sha1" => Some(MessageDigest::sha1()),
        "http://www.w3.org/2009/xmlenc11#mgf1sha256" => Some(MessageDigest::sha256()),
        "http://www.w3.org/2009/xmlenc11#mgf1sha384" => Some(MessageDigest::sha384()),
        "http://www.w3.org/2009/xmlenc11#mgf1sha512" => Some(MessageDigest::sha512()),
        _ => None,
    }
}

fn unwrap_key(encrypted_key: &Node, key: &PKey<Private>) -> Result<Vec<u8>, ResponseError> {
    let method = only_child(encrypted_key, XENC, "EncryptionMethod")
        .ok_or(fail("no key EncryptionMethod"))?;
    let algorithm = method.get_attribute("Algorithm").unwrap_or_default();
    // The OAEP digest defaults to SHA-1 and so does the mask generation (XML Encryption 5.5.2).
    let digest = match only_child(&method, DSIG, "DigestMethod") {
        Some(d) => digest_by_uri(&d.get_attribute("Algorithm").unwrap_or_default())
            .ok_or(fail("unknown OAEP digest"))?,
        None => MessageDigest::sha1(),
    };
    let mgf = match (algorithm.as_str(), only_child(&method, XENC11, "MGF")) {
        (RSA_OAEP_MGF1P, None) => MessageDigest::sha1(),
        (RSA_OAEP_MGF1P, Some(_)) => return Err(fail("rsa-oaep-mgf1p takes no MGF")),
        (RSA_OAEP, None) => MessageDigest::sha1(),
        (RSA_OAEP, Some(m)) => mgf_by_uri(&m.get_attribute("Algorithm").unwrap_or_default())
            .ok_or(fail("unknown OAEP mask generation"))?,
        _ => return Err(fail("key transport other than RSA-OAEP")),
    };
    let wrapped = cipher_value(encrypted_key)?;
    let openssl = |_| fail("the content key does not decrypt with the SP key");
    let mut decrypter = Decrypter::new(key).map_err(openssl)?;
    decrypter
        .set_rsa_padding(Padding::PKCS1_OAEP)
        .map_err(openssl)?;
    decrypter.set_rsa_oaep_md(digest).map_err(openssl)?;
    decrypter.set_rsa_mgf1_md(mgf).map_err(openssl)?;
    let mut out = vec![0; decrypter.decrypt_len(&wrapped).map_err(openssl)?];
    let length = decrypter.decrypt(&wrapped, &mut out).map_err(openssl)?;
    out.truncate(length);
    Ok(out)
}

fn decrypt_content(method: &str, key: &[u8], data: &[u8]) -> Result<Vec<u8>, ResponseError> {
    let (cipher, gcm) = match method {
        "http://www.w3.org/2009/xmlenc11#aes128-gcm" => (Cipher::aes_128_gcm(), true),
        "http://www.w3.org/2009/xmlenc11#aes192-gcm" => (Cipher::aes_192_gcm(), true),
        "http://www.w3.org/2009/xmlenc11#aes256-gcm" => (Cipher::aes_256_gcm(), true),
        "http://www.w3.org/2001/04/xmlenc#aes128-cbc" => (Cipher::aes_128_cbc(), false),
        "http://www.w3.org/2001/04/xmlenc#aes192-cbc" => (Cipher::aes_192_cbc(), false),
        "http://www.w3.org/2001/04/xmlenc#aes256-cbc" => (Cipher::aes_256_cbc(), false),
        _ => return Err(fail("unsupported content encryption")),
    };
    if key.len() != cipher.key_len() {
        return Err(fail("the content key has the wrong length"));
    }
    if gcm {
        if data.len() < GCM_IV_BYTES + GCM_TAG_BYTES {
            return Err(fail("the ciphertext is too short"));
        }
        let (iv, rest) = data.split_at(GCM_IV_BYTES);
        let (ciphertext, tag) = rest.split_at(rest.len() - GCM_TAG_BYTES);
        return decrypt_aead(cipher, key, Some(iv), &[], ciphertext, tag)
            .map_err(|_| fail("the ciphertext does not authenticate"));
    }
    if data.len() < 2 * CBC_IV_BYTES || !data.len().is_multiple_of(CBC_IV_BYTES) {
        return Err(fail("the ciphertext has the wrong length"));
    }
    let (iv, ciphertext) = data.split_at(CBC_IV_BYTES);
    let openssl = |_| fail("the ciphertext does not decrypt");
    let mut crypter = Crypter::new(cipher, Mode::Decrypt, key, Some(iv)).map_err(openssl)?;
    // XML Encryption pads with arbitrary bytes and a final length byte, not PKCS#7.
    crypter.pad(false);
    let mut out = vec![0; ciphertext.len() + CBC_IV_BYTES];
    let mut length = crypter.update(ciphertext, &mut out).map_err(openssl)?;
    length += crypter.finalize(&mut out[length..]).map_err(openssl)?;
    out.truncate(length);
    let padding = usize::from(out.last().copied().unwrap_or(0));
    if padding == 0 || padding > CBC_IV_BYTES || padding > out.len() {
        return Err(fail("the padding is wrong"));
    }
    out.truncate(out.len() - padding);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use openssl::symm::{encrypt, encrypt_aead};

    const CBC: &str = "http://www.w3.org/2001/04/xmlenc#aes256-cbc";
    const GCM: &str = "http://www.w3.org/2009/xmlenc11#aes128-gcm";

    #[test]
    fn cbc_content_decrypts_and_loses_its_padding() {
        let key = [7u8; 32];
        let iv = [9u8; 16];
        let sealed = encrypt(Cipher::aes_256_cbc(), &key, Some(&iv), b"<Assertion/>").unwrap();
        let data = [iv.as_slice(), &sealed].concat();
        assert_eq!(decrypt_content(CBC, &key, &data).unwrap(), b"<Assertion/>");
        // A short key, a truncated ciphertext and an unknown method are refused, not panicked on.
        assert!(decrypt_content(CBC, &key[..16], &data).is_err());
        assert!(decrypt_content(CBC, &key, &data[..20]).is_err());
        assert!(decrypt_content(CBC, &key, &[]).is_err());
        assert!(decrypt_content("urn:unknown", &key, &data).is_err());
    }

    #[test]
    fn gcm_content_must_authenticate() {
        let key = [3u8; 16];
        let iv = [5u8; 12];
        let mut tag = [0u8; 16];
        let sealed = encrypt_aead(
            Cipher::aes_128_gcm(),
            &key,
            Some(&iv),
            &[],
            b"<A/>",
            &mut tag,
        )
        .unwrap();
        let mut data = [iv.as_slice(), &sealed, &tag].concat();
        assert_eq!(decrypt_content(GCM, &key, &data).unwrap(), b"<A/>");
        data[13] ^= 1;
        assert!(decrypt_content(GCM, &key, &data).is_err());
        assert!(decrypt_content(GCM, &key, &data[..20]).is_err());
    }
}
