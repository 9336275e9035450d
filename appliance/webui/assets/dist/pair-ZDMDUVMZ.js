import {
  renderPair,
  startPairing
} from "./chunk-R3HFGJ4N.js";
import "./chunk-XFF4UI46.js";
import "./chunk-HKOKOT5A.js";
export {
  renderPair,
  startPairing
};
