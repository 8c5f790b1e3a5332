"""The `app-config.js` the OHIF app reads at start: one DICOMweb data source, the proxied Orthanc on our origin."""

from __future__ import annotations

import json

__all__ = ["app_config_js"]


def app_config_js(dicomweb_path: str = "/dicom-web") -> str:
    """OHIF's `window.config`: the study list on, one DICOMweb source at `<page origin><dicomweb_path>`.

    The roots are built from `window.location.origin` in the page, so the same file works on any port.
    """
    if not dicomweb_path.startswith("/") or dicomweb_path.endswith("/"):
        raise ValueError(f"expected a DICOMweb path like '/dicom-web', got {dicomweb_path!r}")
    path = json.dumps(dicomweb_path)
    return f"""/** msk-maps: OHIF on the local Orthanc, proxied on this origin (written by viewer/app_config.py). */
const dicomweb = window.location.origin + {path};
window.config = {{
  routerBasename: null,
  extensions: [],
  modes: [],
  // No onboarding tour over the viewport (people who run this have seen OHIF; screenshots stay clean).
  customizationService: {{
    'ohif.tours': {{ $set: [] }},
    // Our Secondary Captures (modality OT) are key images, not a cine loop.
    autoCineModalities: {{ $set: ['US'] }},
    // OHIF 3.13.2 reads measurement.coords[0].ReferencedSOPSequence of every SR measurement group and throws
    // ("Something went wrong") on TID 1501 groups, which have no image region; hand it an empty coordinate.
    onBeforeSRAddMeasurement: {{
      $set: ({{ measurement }}) => (measurement.coords.length ? measurement : {{ ...measurement, coords: [{{}}] }}),
    }},
  }},
  showStudyList: true,
  maxNumberOfWebWorkers: 2,
  showWarningMessageForCrossOrigin: false,
  showCPUFallbackMessage: false,
  showLoadingIndicator: true,
  strictZSpacingForVolumeViewport: true,
  investigationalUseDialog: {{ option: 'never' }},
  maxNumRequests: {{ interaction: 100, thumbnail: 5, prefetch: 10 }},
  showErrorDetails: 'always',
  defaultDataSourceName: 'orthanc',
  dataSources: [
    {{
      namespace: '@ohif/extension-default.dataSourcesModule.dicomweb',
      sourceName: 'orthanc',
      configuration: {{
        friendlyName: 'msk-maps Orthanc',
        name: 'orthanc',
        wadoUriRoot: dicomweb,
        qidoRoot: dicomweb,
        wadoRoot: dicomweb,
        qidoSupportsIncludeField: false,
        supportsReject: false,
        imageRendering: 'wadors',
        thumbnailRendering: 'wadors',
        enableStudyLazyLoad: true,
        supportsFuzzyMatching: false,
        supportsWildcard: true,
        staticWado: false,
        singlepart: 'bulkdata,video',
        bulkDataURI: {{ enabled: true, relativeResolution: 'studies' }},
        omitQuotationForMultipartRequest: true,
      }},
    }},
  ],
}};
"""
