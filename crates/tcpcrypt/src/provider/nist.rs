//! RFC 8548 §5: TCPCRYPT_ECDHE_P256 (TEP 0x21) and TCPCRYPT_ECDHE_P521 (TEP 0x22), ECSVDP-DH
//! of IEEE 1363 via the RustCrypto `p256`/`p521` crates.
//!
//! A public key travels as a 2-byte big-endian length followed by the compressed point
//! (IEEE 1363 E.2.3, the same layout as SEC1: 0x02/0x03 for the parity of y, then x), i.e.
//! `00 21 || 33 bytes` for P-256 and `00 43 || 67 bytes` for P-521. Received points must be
//! compressed and are validated (on the curve, not the identity: IEEE 1363 A.16.10) by
//! decompression. ES is the x-coordinate of the shared point, 32 or 66 bytes (RFC 5903 §8).

use p256::elliptic_curve;
use p256::elliptic_curve::sec1::{FromEncodedPoint, ModulusSize, ToEncodedPoint};
use p256::elliptic_curve::{AffinePoint, CurveArithmetic, FieldBytesSize, PublicKey, SecretKey};
use rand_core::CryptoRngCore;
use zeroize::Zeroizing;

use super::{KeyError, KxPrivate};
use crate::suite::Tep;

/// Length of the big-endian length prefix in front of a NIST public key (RFC 8548 §5).
const LEN_PREFIX: usize = 2;

/// An ephemeral P-256 or P-521 private key. `SecretKey` zeroizes its scalar on drop.
pub(crate) struct NistPrivate<C: CurveArithmetic> {
    tep: Tep,
    secret: SecretKey<C>,
}

/// `C` is P-256 or P-521: the bounds the `elliptic-curve` traits need for SEC1 coding.
pub(crate) trait NistCurve: CurveArithmetic
where
    AffinePoint<Self>: FromEncodedPoint<Self> + ToEncodedPoint<Self>,
    FieldBytesSize<Self>: ModulusSize,
{
    /// The TEP for this curve.
    const TEP: Tep;
}

impl NistCurve for p256::NistP256 {
    const TEP: Tep = Tep::P256;
}

impl NistCurve for p521::NistP521 {
    const TEP: Tep = Tep::P521;
}

impl<C> NistPrivate<C>
where
    C: NistCurve,
    AffinePoint<C>: FromEncodedPoint<C> + ToEncodedPoint<C>,
    FieldBytesSize<C>: ModulusSize,
{
    /// A fresh key from `rng` (uniform in [1, n-1]).
    pub(crate) fn generate(mut rng: &mut dyn CryptoRngCore) -> Self {
        NistPrivate {
            tep: C::TEP,
            secret: SecretKey::random(&mut rng),
        }
    }

    /// A key from its big-endian scalar, which must be exactly the field size (32 or 66
    /// bytes) and in [1, n-1].
    pub(crate) fn from_bytes(private: &[u8]) -> Result<Self, KeyError> {
        let expected = C::TEP.pub_len() - LEN_PREFIX - 1;
        if private.len() != expected {
            return Err(KeyError::InvalidPrivateKey);
        }
        let secret = SecretKey::from_slice(private).map_err(|_| KeyError::InvalidPrivateKey)?;
        Ok(NistPrivate {
            tep: C::TEP,
            secret,
        })
    }
}

/// Parses a tcpcrypt NIST public key: length prefix, then a compressed, valid point.
fn parse_public<C>(tep: Tep, peer_public: &[u8]) -> Result<PublicKey<C>, KeyError>
where
    C: CurveArithmetic,
    AffinePoint<C>: FromEncodedPoint<C> + ToEncodedPoint<C>,
    FieldBytesSize<C>: ModulusSize,
{
    if peer_public.len() != tep.pub_len() {
        return Err(KeyError::BadPublicKeyLength);
    }
    let [hi, lo, point @ ..] = peer_public else {
        return Err(KeyError::BadPublicKeyLength);
    };
    let declared = u16::from_be_bytes([*hi, *lo]);
    if usize::from(declared) != point.len() {
        return Err(KeyError::BadPublicKeyLength);
    }
    // Only the compressed form is allowed (RFC 8548 §5); this also rules out the identity
    // (0x00) and the uncompressed/hybrid forms (0x04/0x06/0x07).
    match point.first() {
        Some(0x02 | 0x03) => {}
        _ => return Err(KeyError::InvalidPublicKey),
    }
    // Decompression solves for y and so fails for an x that is not on the curve.
    PublicKey::<C>::from_sec1_bytes(point).map_err(|_| KeyError::InvalidPublicKey)
}

impl<C> KxPrivate for NistPrivate<C>
where
    C: NistCurve,
    AffinePoint<C>: FromEncodedPoint<C> + ToEncodedPoint<C>,
    FieldBytesSize<C>: ModulusSize,
{
    fn tep(&self) -> Tep {
        self.tep
    }

    fn public_key(&self) -> Vec<u8> {
        let point = self.secret.public_key().to_encoded_point(true);
        let bytes = point.as_bytes();
        let mut out = Vec::with_capacity(LEN_PREFIX + bytes.len());
        // A compressed point is at most 67 bytes, so the length always fits.
        out.extend_from_slice(&u16::try_from(bytes.len()).unwrap_or(0).to_be_bytes());
        out.extend_from_slice(bytes);
        out
    }

    fn agree(self: Box<Self>, peer_public: &[u8]) -> Result<Zeroizing<Vec<u8>>, KeyError> {
        let peer = parse_public::<C>(self.tep, peer_public)?;
        let shared =
            elliptic_curve::ecdh::diffie_hellman(self.secret.to_nonzero_scalar(), peer.as_affine());
        // ECSVDP-DH output = x-coordinate, FE2OSP to the field size (32 / 66 bytes).
        Ok(Zeroizing::new(shared.raw_secret_bytes().to_vec()))
    }
}
