//! Vector validation against an embedding space.

use neonhub_schema::Vector;

use crate::RagError;

/// Checks `vector` for a space of `dimension`: not empty, the right length, every
/// component finite.
pub fn validate_vector(vector: &Vector, dimension: i32) -> Result<(), RagError> {
    let values = vector.as_slice();
    if values.is_empty() {
        return Err(RagError::EmptyVector);
    }
    if usize::try_from(dimension).ok() != Some(values.len()) {
        return Err(RagError::DimensionMismatch {
            expected: dimension,
            got: values.len(),
        });
    }
    if let Some((position, value)) = values.iter().enumerate().find(|(_, v)| !v.is_finite()) {
        return Err(RagError::NonFiniteVector {
            position,
            value: value.to_string(),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_bad_vector_gets_its_own_error() {
        assert!(validate_vector(&Vector::from(vec![0.1, 0.2, 0.3]), 3).is_ok());
        assert!(matches!(
            validate_vector(&Vector::from(vec![]), 3),
            Err(RagError::EmptyVector)
        ));
        assert!(matches!(
            validate_vector(&Vector::from(vec![0.1, 0.2]), 3),
            Err(RagError::DimensionMismatch {
                expected: 3,
                got: 2
            })
        ));
        let nan = validate_vector(&Vector::from(vec![0.1, f32::NAN, 0.3]), 3).unwrap_err();
        assert!(
            matches!(nan, RagError::NonFiniteVector { position: 1, .. }),
            "{nan}"
        );
        let inf = validate_vector(&Vector::from(vec![f32::NEG_INFINITY, 0.2, 0.3]), 3).unwrap_err();
        assert_eq!(
            inf.to_string(),
            "vector component 0 is -inf (NaN and infinities are refused)"
        );
    }
}
