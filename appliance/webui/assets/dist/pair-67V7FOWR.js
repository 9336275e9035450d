import {
  renderPair,
  startPairing
} from "./chunk-GDGXLDSH.js";
import "./chunk-WAEYNTD3.js";
import "./chunk-25QKMPFS.js";
export {
  renderPair,
  startPairing
};
