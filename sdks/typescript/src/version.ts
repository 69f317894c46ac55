/**
 * The SDK's version follows the API: major = the API version it speaks (2), minor = the
 * revision of that API's OpenAPI document it was generated from, patch = the SDK's own fixes.
 */
export const SDK_VERSION = "2.0.0";
export const API_VERSION = "2";
